from pathlib import Path

from django.conf import settings
from django.test.runner import DiscoverRunner
from django.test.utils import override_settings


class ConfiguredChecksRunner(DiscoverRunner):
    """Django's test runner, running the system checks against DEBUG as configured, with the
    static files folder in place.

    The runner switches DEBUG off before it runs the checks, so a check about DEBUG (the demo
    IdP must not run without it) would judge the test run instead of the configuration.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configured_debug = settings.DEBUG

    def setup_test_environment(self, **kwargs):
        super().setup_test_environment(**kwargs)
        # whitenoise serves STATIC_ROOT, which `collectstatic` fills in production; without the
        # folder it warns at every server start.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)

    def run_checks(self, databases):
        with override_settings(DEBUG=self.configured_debug):
            super().run_checks(databases)
