from collections import Counter

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
        identity_providers = list(identity_providers)
        total = len(identity_providers)
        if not total:
            due = " is due" if stale_only else ""
            self.stdout.write(f"Nothing to refresh: no IdP with a metadata URL{due}.")
        outcomes = Counter()
        for index, identity_provider in enumerate(identity_providers, start=1):
            # Named before the fetch: a slow metadata server is not a silent pause.
            self.stdout.write(f"[{index}/{total}] {identity_provider.slug}: ", ending="")
            self.stdout.flush()
            result = metadata.refresh(identity_provider)
            outcomes[result.outcome] += 1
            self.stdout.write(metadata.describe_result(result).replace("\n", "; "))
        summary = (
            f"{outcomes['updated']} refreshed, {outcomes['unchanged']} unchanged, "
            f"{outcomes['error']} failed"
        )
        if outcomes["error"]:
            raise CommandError(f"{summary}; the last good copies of those that failed stay in use.")
        self.stdout.write(summary)
