import os
from importlib.metadata import version
from unittest import mock

from django.conf import settings
from django.test import SimpleTestCase, override_settings

from saml_idps.checks import check_crypto_backend, check_host_settings, pysaml2_version_errors

from .services import require_xmlsec1

NO_PROGRAMS = {"PATH": "/nonexistent"}


class CryptoBackendCheckTests(SimpleTestCase):
    @override_settings(SAML_IDPS_CRYPTO_BACKEND="xmlsec1")
    def test_xmlsec1_backend_without_the_program_is_a_clear_error(self):
        with mock.patch.dict(os.environ, NO_PROGRAMS):
            errors = check_crypto_backend(None)
        self.assertEqual([error.id for error in errors], ["saml_idps.E001"])
        self.assertIn("apt-get install xmlsec1", errors[0].hint)

    @override_settings(SAML_IDPS_CRYPTO_BACKEND="xmlsec1")
    def test_xmlsec1_backend_with_the_program_passes(self):
        require_xmlsec1()
        self.assertEqual(check_crypto_backend(None), [])

    def test_default_backend_needs_no_program(self):
        with mock.patch.dict(os.environ, NO_PROGRAMS):
            self.assertEqual(check_crypto_backend(None), [])

    @override_settings(SAML_IDPS_CRYPTO_BACKEND="pyXMLSecurity")
    def test_unknown_backend_is_an_error(self):
        self.assertEqual(ids(check_crypto_backend(None)), ["saml_idps.E008"])


class Pysaml2VersionCheckTests(SimpleTestCase):
    def test_the_pinned_pysaml2_passes(self):
        self.assertEqual(pysaml2_version_errors(version("pysaml2")), [])

    def test_another_minor_version_is_an_error_until_crypto_is_checked_against_it(self):
        self.assertEqual(ids(pysaml2_version_errors("7.6.0")), ["saml_idps.E009"])


def ids(problems):
    return [problem.id for problem in problems]


class HostSettingsCheckTests(SimpleTestCase):
    def test_the_sites_settings_pass(self):
        self.assertEqual(check_host_settings(None), [])

    def test_missing_middleware(self):
        middleware = [m for m in settings.MIDDLEWARE if "saml_idps" not in m]
        with override_settings(MIDDLEWARE=middleware):
            self.assertEqual(ids(check_host_settings(None)), ["saml_idps.E003"])

    def test_middleware_before_the_session_middleware(self):
        middleware = ["saml_idps.middleware.SamlSessionMiddleware"] + [
            m for m in settings.MIDDLEWARE if "saml_idps" not in m
        ]
        with override_settings(MIDDLEWARE=middleware):
            self.assertEqual(ids(check_host_settings(None)), ["saml_idps.E004"])

    def test_missing_backend(self):
        with override_settings(
            AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"]
        ):
            self.assertEqual(ids(check_host_settings(None)), ["saml_idps.E005"])

    def test_wrong_config_loader(self):
        with override_settings(SAML_CONFIG_LOADER="djangosaml2.conf.config_settings_loader"):
            self.assertEqual(ids(check_host_settings(None)), ["saml_idps.E006"])

    def test_name_id_not_handed_to_the_backend(self):
        with override_settings(SAML_USE_NAME_ID_AS_USERNAME=False):
            self.assertEqual(ids(check_host_settings(None)), ["saml_idps.E010"])

    def test_saml_cookie_not_samesite_none(self):
        with override_settings(SAML_SESSION_COOKIE_SAMESITE="Lax"):
            self.assertEqual(ids(check_host_settings(None)), ["saml_idps.W003"])

    def test_session_cookie_samesite_none_without_secure(self):
        with override_settings(SESSION_COOKIE_SAMESITE="None", SESSION_COOKIE_SECURE=False):
            self.assertEqual(ids(check_host_settings(None)), ["saml_idps.E007"])
