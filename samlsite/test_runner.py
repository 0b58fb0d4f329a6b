import os
import sys
from collections import Counter
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
        # CI's run on SQLite leaves out the PostgreSQL-only tests by their tag, rather than
        # letting them skip (a skip in CI is an error).
        self.exclude_tags |= {t for t in os.environ.get("TEST_EXCLUDE_TAGS", "").split(",") if t}

    def setup_test_environment(self, **kwargs):
        super().setup_test_environment(**kwargs)
        # whitenoise serves STATIC_ROOT, which `collectstatic` fills in production; without the
        # folder it warns at every server start.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)

    def run_suite(self, suite, **kwargs):
        result = super().run_suite(suite, **kwargs)
        self.explain_skips(result)
        return result

    def explain_skips(self, result):
        """One line per reason a test was skipped (what is missing, and how to install it),
        with how many it skipped: Django's runner shows an 's' per test and no reason."""
        reasons = Counter(reason for _, reason in result.skipped)
        if not reasons:
            return
        stream = sys.stderr
        stream.write("\nSkipped, with the reason:\n")
        for reason, count in reasons.most_common():
            stream.write(f"  {count:4} {reason}\n")
        stream.flush()

    def run_checks(self, databases):
        with override_settings(DEBUG=self.configured_debug):
            super().run_checks(databases)
