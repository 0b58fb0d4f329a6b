"""`make test` on a machine with Python and make only: without the xmlsec1 program the test IdPs
still sign and encrypt, the site still checks every signature, and what truly needs the program
(the stock side of the differential tests) is skipped with one line saying what to install."""

import os
import re
import subprocess
import sys
import tempfile

from django.test import SimpleTestCase

from .services import ROOT, XMLSEC1_MISSING

# Logins (signed, encrypted, refused), the differential suites and the real IdPs' output.
MODULES = ["tests.test_login", "tests.test_sp_keys", "tests.test_crypto_backends"]


class WithoutXmlsec1Tests(SimpleTestCase):
    def test_the_suite_passes_and_says_what_it_skipped_and_why(self):
        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in ("CI", "DATABASE_URL", "TEST_EXCLUDE_TAGS")
        }
        environment["PATH"] = tempfile.mkdtemp(prefix="no-programs-")  # no xmlsec1 on it
        result = subprocess.run(
            [sys.executable, "manage.py", "test", "--noinput", *MODULES],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        report = result.stderr
        self.assertEqual(result.returncode, 0, report[-3000:])
        self.assertIn("\nOK (skipped=", report)
        self.assertIn("Skipped, with the reason:", report)
        reasons = report.split("Skipped, with the reason:\n")[1].splitlines()
        self.assertRegex(reasons[0], rf"^ +\d+ {re.escape(XMLSEC1_MISSING)}$")
        self.assertNotIn("SigverError", report)
