import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import timezone

from saml_idps import consoles, test_sign_in, transfer
from saml_idps.conf import app_setting
from saml_idps.config import urls_for
from saml_idps.forms import IdentityProviderForm, errors_as_text
from saml_idps.models import IdentityProvider, TestSignIn
from saml_idps.scim import setup, tokens


class Command(BaseCommand):
    help = "Manage SAML identity providers from the shell, with the admin's validation."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        add = commands.add_parser("add", help="register an IdP by metadata URL or file")
        add.add_argument("slug")
        source = add.add_mutually_exclusive_group(required=True)
        source.add_argument("--metadata-url")
        source.add_argument("--metadata-file", type=Path)
        add.add_argument("--name", help="shown as 'Sign in with NAME' (default: the slug)")
        add.add_argument(
            "--entity-id",
            default="",
            help="the IdP's entity ID, to pick one IdP out of an aggregate (EntitiesDescriptor)",
        )
        add.add_argument(
            "--sp-entity-id",
            default="",
            help="the Audience URI an existing IdP app already sends (default: our metadata URL)",
        )
        add.add_argument(
            "--acs-url",
            default="",
            help="the single sign-on URL an existing IdP app already posts to (default: ours)",
        )
        commands.add_parser("list", help="slug, entity ID, enabled, metadata age, expiry")
        show = commands.add_parser("show", help="one IdP: settings, our URLs, certificates")
        show.add_argument("slug")
        show.add_argument(
            "--base-url",
            default=None,
            help="this site's scheme and host for our URLs (default: SAML_IDPS_BASE_URL)",
        )
        for action in ("enable", "disable"):
            commands.add_parser(action, help=f"{action} one IdP").add_argument("slug")
        export = commands.add_parser("export", help="every setting of IdPs as JSON")
        export.add_argument("slugs", nargs="*", metavar="SLUG")
        load = commands.add_parser("import", help="create or update IdPs from exported JSON")
        load.add_argument("file", type=Path)
        load.add_argument(
            "--allow-weaker-security",
            action="store_true",
            help="apply entries that add a riskier choice (SHA-1, a large clock skew, unsigned "
            "AuthnRequests, IdP-initiated login, a group granting staff or superuser)",
        )

        scim_token = commands.add_parser(
            "scim-token", help="make a SCIM bearer token for one IdP (shown once), or revoke one"
        )
        scim_token.add_argument("slug")
        scim_token.add_argument("--label", default="", help="what the token is for")
        scim_token.add_argument(
            "--revoke",
            metavar="HINT",
            help="revoke the live token whose first characters these are",
        )

        test = commands.add_parser(
            "test",
            help="try an IdP end to end (also disabled): prints a URL to open, waits for the "
            "IdP's answer and prints what it would do; nobody is signed in",
        )
        test.add_argument("slug")
        test.add_argument(
            "--base-url", help="this site's address, for the URL (default: SAML_IDPS_BASE_URL)"
        )
        test.add_argument(
            "--wait", type=int, default=300, help="seconds to wait for the answer (default 300)"
        )
        test.add_argument(
            "--json", dest="as_json", action="store_true", help="print the report as JSON"
        )
        test_report = commands.add_parser(
            "test-report", help="print the report of a test started before (by its ID)"
        )
        test_report.add_argument("test_id", metavar="ID")
        test_report.add_argument(
            "--json", dest="as_json", action="store_true", help="print it as JSON"
        )

    def handle(self, action, **options):
        getattr(self, f"handle_{action.replace('-', '_')}")(**options)

    def handle_add(
        self, slug, metadata_url, metadata_file, name, entity_id, sp_entity_id, acs_url, **options
    ):
        data = {
            "slug": slug,
            "name": name or slug,
            "metadata_url": metadata_url or "",
            "aggregate_entity_id": entity_id,
            "sp_entity_id": sp_entity_id,
            "acs_url": acs_url,
        }
        if metadata_file is not None:
            data["metadata_xml"] = read(metadata_file)
        form = IdentityProviderForm(data=data)
        if not form.is_valid():
            raise CommandError(errors_as_text(form.errors))
        identity_provider = form.save()
        self.stdout.write(f"Added {slug}: {identity_provider.entity_id}")

    def handle_list(self, **options):
        now = timezone.now()
        self.stdout.write("SLUG\tENTITY ID\tSTATE\tMETADATA AGE\tCERTIFICATES EXPIRE")
        for idp in IdentityProvider.objects.order_by("slug"):
            age = f"{(now - idp.metadata_fetched_at).days}d" if idp.metadata_fetched_at else "-"
            expiry = f"{idp.certificates_expire_at:%Y-%m-%d}" if idp.certificates_expire_at else "-"
            state = "enabled" if idp.enabled else "disabled"
            self.stdout.write(f"{idp.slug}\t{idp.entity_id}\t{state}\t{age}\t{expiry}")

    def handle_show(self, slug, base_url, **options):
        idp = identity_provider(slug)
        self.stdout.write(f"entity ID: {idp.entity_id}")
        base = (base_url or app_setting("BASE_URL") or "").rstrip("/")
        urls = urls_for(idp, base)
        if not base:
            self.stdout.write("our URLs (paths: give --base-url or set SAML_IDPS_BASE_URL):")
        else:
            self.stdout.write("our URLs (what to paste into the IdP):")
        for label, url in [
            ("ACS (single sign-on URL)", urls.acs),
            ("SP entity ID (Audience URI)", urls.entity_id),
            ("SP metadata", urls.metadata),
            ("single logout", urls.single_logout),
            ("login", urls.login),
        ]:
            self.stdout.write(f"  {label}: {url}")
        product = consoles.product_of(idp.entity_id)
        if product is not None:
            name, where, fields = consoles.for_product(product, urls)
            self.stdout.write(f"in {name} ({where}):")
            for field, value in fields:
                self.stdout.write(f"  {field}: {value}")
        state = "on" if idp.scim_enabled else "off"
        self.stdout.write(f"provisioning (SCIM) {state}; what to enter in the IdP:")
        for product, where, fields in setup.consoles(idp, urls):
            self.stdout.write(f"  {product} ({where}):")
            for field, value in fields:
                self.stdout.write(f"    {field}: {value}")
        self.stdout.write("signing certificates:")
        for certificate in idp.signing_certificates:
            self.stdout.write(
                f"  {certificate['subject']}, expires {certificate['not_after'][:10]}, "
                f"SHA-256 {certificate['sha256']}"
            )
        entry = transfer.exported(idp)
        entry.pop("metadata_xml")
        for name, value in entry.items():
            self.stdout.write(f"{name}: {json.dumps(value)}")

    def handle_enable(self, slug, **options):
        self.set_enabled(slug, True)

    def handle_disable(self, slug, **options):
        self.set_enabled(slug, False)

    def set_enabled(self, slug, enabled):
        idp = identity_provider(slug)
        idp.enabled = enabled
        idp.save(update_fields=["enabled", "updated_at"])
        self.stdout.write(f"{slug}: {'enabled' if enabled else 'disabled'}")

    def handle_export(self, slugs, **options):
        identity_providers = IdentityProvider.objects.order_by("slug")
        if slugs:
            missing = set(slugs) - set(
                identity_providers.filter(slug__in=slugs).values_list("slug", flat=True)
            )
            if missing:
                raise CommandError(f"No identity provider {', '.join(sorted(missing))}.")
            identity_providers = identity_providers.filter(slug__in=slugs)
        self.stdout.write(json.dumps(transfer.export(identity_providers), indent=2))

    def handle_import(self, file, allow_weaker_security, **options):
        try:
            entries = json.loads(read(file))
        except json.JSONDecodeError as error:
            raise CommandError(f"{file} is not valid JSON: {error}") from error
        try:
            results = transfer.import_(entries, allow_weaker_security)
        except transfer.TransferError as error:
            raise CommandError(f"Nothing was imported:\n{error}") from error
        for slug, outcome, weakenings in results:
            self.stdout.write(f"{slug}: {outcome}")
            for warning in weakenings:
                self.stderr.write(self.style.WARNING(f"  {slug}: weaker security: {warning}"))

    def handle_scim_token(self, slug, label, revoke, **options):
        idp = identity_provider(slug)
        if revoke:
            live = idp.scim_tokens.filter(revoked_at__isnull=True, hint=revoke)
            if len(live) != 1:
                raise CommandError(f"{slug} has no live SCIM token starting {revoke}.")
            tokens.revoke(live[0])
            self.stdout.write(f"{slug}: SCIM token {revoke}… revoked")
            return
        secret = tokens.issue(idp, label)
        self.stdout.write(secret)
        self.stderr.write(
            f"A SCIM bearer token for {slug}, shown this once: paste it into the IdP now."
            + (
                ""
                if idp.scim_enabled
                else f" Provisioning is off for {slug}: turn it on in the admin."
            )
        )

    def handle_test(self, slug, base_url, wait, as_json, **options):
        idp = identity_provider(slug)
        base = (base_url or app_setting("BASE_URL") or "").rstrip("/")
        if not base:
            raise CommandError("Give --base-url (this site's address) or set SAML_IDPS_BASE_URL.")
        test = test_sign_in.start_from_command_line(idp)
        login = reverse("saml_idps:login", kwargs={"slug": slug})
        self.stdout.write(f"Open this in a browser and sign in at {idp.name} as the user to try:")
        self.stdout.write(f"  {base}{login}?test={test.pk}")
        self.stderr.write(f"Waiting up to {wait} s for the answer (test {test.pk})...")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            test.refresh_from_db()
            if test.report is not None:
                self.print_report(test, as_json)
                return
            time.sleep(1)
        raise CommandError(
            f"No answer within {wait} s. The URL stays open for "
            f"{test_sign_in.WINDOW.seconds // 60} minutes; then read the report with: "
            f"manage.py saml_idps test-report {test.pk}"
        )

    def handle_test_report(self, test_id, as_json, **options):
        test = (
            TestSignIn.objects.filter(pk=test_id, requested_by=None).first()
            if test_sign_in.is_uuid(test_id)
            else None
        )
        if test is None or test.report is None:
            raise CommandError(f"No report of a command-line test {test_id} (yet).")
        self.print_report(test, as_json)

    def print_report(self, test, as_json):
        if as_json:
            self.stdout.write(json.dumps(test.report, indent=2))
        else:
            self.stdout.write(test_sign_in.as_text(test.report))


def identity_provider(slug):
    try:
        return IdentityProvider.objects.get(slug=slug)
    except IdentityProvider.DoesNotExist:
        raise CommandError(f"No identity provider {slug}.") from None


def read(path):
    try:
        return path.read_text()
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error.strerror}") from error
