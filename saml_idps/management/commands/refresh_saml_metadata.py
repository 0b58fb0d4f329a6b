from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from saml_idps import metadata
from saml_idps.models import IdentityProvider


class Command(BaseCommand):
    help = (
        "Fetch the metadata of identity providers again and apply what passes every check; "
        "a failure keeps the last good copy. For cron: --stale-only refreshes only those due."
    )

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", metavar="SLUG", help="default: every IdP")
        parser.add_argument(
            "--stale-only",
            action="store_true",
            help="only IdPs whose next refresh time (from cacheDuration/validUntil) has come",
        )

    def handle(self, slugs, stale_only, **options):
        identity_providers = IdentityProvider.objects.exclude(metadata_url="").order_by("slug")
        if slugs:
            identity_providers = identity_providers.filter(slug__in=slugs)
            unknown = set(slugs) - {idp.slug for idp in identity_providers}
            if unknown:
                raise CommandError(
                    f"No identity provider with a metadata URL: {', '.join(sorted(unknown))}"
                )
        if stale_only:
            identity_providers = identity_providers.filter(
                Q(metadata_refresh_at__isnull=True) | Q(metadata_refresh_at__lte=timezone.now())
            )
        failed = 0
        for identity_provider in identity_providers.iterator():
            result = metadata.refresh(identity_provider)
            line = f"{identity_provider.slug}: {result.outcome}"
            if result.detail:
                line += ": " + result.detail.replace("\n", "; ")
            if result.outcome == "error":
                failed += 1
                self.stderr.write(line)
            else:
                self.stdout.write(line)
        if failed:
            raise CommandError(f"{failed} refresh(es) failed; their last good copies stay in use.")
