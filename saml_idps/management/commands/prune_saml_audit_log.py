from django.core.management.base import BaseCommand

from saml_idps import audit, replay
from saml_idps.conf import app_setting


class Command(BaseCommand):
    help = (
        "Delete login attempts and SCIM events older than SAML_IDPS_AUDIT_RETENTION_DAYS, and the "
        "replay records "
        "of assertions that have expired (for cron)."
    )

    def handle(self, **options):
        deleted = audit.prune()
        days = app_setting("AUDIT_RETENTION_DAYS")
        self.stdout.write(
            f"Deleted {deleted} login attempt(s) and SCIM event(s) older than {days} days."
        )
        expired = replay.prune_consumed_assertions()
        self.stdout.write(f"Deleted {expired} replay record(s) of expired assertions.")
