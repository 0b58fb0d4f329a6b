from django.core.management.base import BaseCommand

from saml_idps import audit
from saml_idps.conf import app_setting


class Command(BaseCommand):
    help = "Delete login attempts older than SAML_IDPS_AUDIT_RETENTION_DAYS (for cron)."

    def handle(self, **options):
        deleted = audit.prune()
        days = app_setting("AUDIT_RETENTION_DAYS")
        self.stdout.write(f"Deleted {deleted} login attempt(s) older than {days} days.")
