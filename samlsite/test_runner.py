from django.conf import settings
from django.test.runner import DiscoverRunner
from django.test.utils import override_settings


class ConfiguredChecksRunner(DiscoverRunner):
    """Django's test runner, running the system checks against DEBUG as configured.

    The runner switches DEBUG off before it runs the checks, so a check about DEBUG (the demo
    IdP must not run without it) would judge the test run instead of the configuration.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configured_debug = settings.DEBUG

    def run_checks(self, databases):
        with override_settings(DEBUG=self.configured_debug):
            super().run_checks(databases)
