import os
from unittest import mock

from django.test import SimpleTestCase

from saml_idps.checks import check_xmlsec1


class XmlsecCheckTests(SimpleTestCase):
    def test_missing_xmlsec1_is_a_clear_error(self):
        with mock.patch.dict(os.environ, {"PATH": "/nonexistent"}):
            errors = check_xmlsec1(None)
        self.assertEqual([error.id for error in errors], ["saml_idps.E001"])
        self.assertIn("apt-get install xmlsec1", errors[0].hint)

    def test_installed_xmlsec1_passes(self):
        self.assertEqual(check_xmlsec1(None), [])
