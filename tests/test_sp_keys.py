"""The SP's key pair: published in our metadata, signing AuthnRequests, decrypting assertions."""

import base64
import os
import stat
import tempfile
from pathlib import Path

from django.test import SimpleTestCase, override_settings
from saml2.response import IncorrectlySigned

from saml_idps import keys
from saml_idps.certificates import generate_self_signed
from saml_idps.checks import check_sp_key_configured

from .fixtures import SamlTestCase, acs_url, sp_entity_id


def certificate_body(cert_file):
    """The base64 body of a PEM certificate, as metadata carries it."""
    lines = Path(cert_file).read_text().strip().splitlines()
    return "".join(lines[1:-1])


class SpKeyTests(SamlTestCase):
    def test_sp_metadata_publishes_the_signing_and_encryption_certificate(self):
        metadata = self.client.get("/saml/idp-a/metadata/").content.decode()
        self.assertIn('use="signing"', metadata)
        self.assertIn('use="encryption"', metadata)
        self.assertIn(certificate_body(keys.current().cert_file), metadata)

    def test_authn_requests_are_signed_and_verify_at_the_idp(self):
        location = self.start_login("idp-a")
        self.assertIn(
            "SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256", location
        )
        # The test IdP requires signed requests and checks them against our metadata.
        self.assertEqual(self.idp_a.received_request(location).issuer.text, sp_entity_id("idp-a"))

    def test_authn_requests_are_unsigned_when_the_idp_setting_is_off(self):
        self.row_a.sign_authn_requests = False
        self.row_a.save()
        location = self.start_login("idp-a")
        self.assertNotIn("Signature=", location)
        # The test IdP wants signed requests: pysaml2 refuses this one as not signed.
        with self.assertRaisesMessage(IncorrectlySigned, "Request was not signed correctly"):
            self.idp_a.received_request(location)

    def test_an_encrypted_assertion_is_decrypted_and_signs_in(self):
        saml_response = self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a"), encrypt=True)
        xml = base64.b64decode(saml_response)
        self.assertIn(b"EncryptedAssertion", xml)
        self.assertNotIn(b"alice@example.com", xml)
        user = self.assertSignedIn(self.post_response("idp-a", saml_response))
        self.assertEqual(user.email, "alice@example.com")

    def test_a_plain_assertion_is_refused_where_encryption_is_required(self):
        self.row_a.require_encryption = True
        self.row_a.save()
        self.assertRefused(
            self.idp_initiated(self.idp_a, "idp-a"),
            "encryption_required",
            "must encrypt its assertions",
        )

    def test_an_encrypted_assertion_is_accepted_where_encryption_is_required(self):
        self.row_a.require_encryption = True
        self.row_a.save()
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a", encrypt=True))


class KeyRolloverTests(SamlTestCase):
    def setUp(self):
        super().setUp()
        folder = Path(tempfile.mkdtemp())
        key_pem, cert_pem = generate_self_signed("next SP key")
        (folder / "next.key").write_bytes(key_pem)
        (folder / "next.crt").write_bytes(cert_pem)
        self.next_cert = cert_pem.decode()
        settings = override_settings(
            SAML_IDPS_SP_NEXT_KEY_FILE=str(folder / "next.key"),
            SAML_IDPS_SP_NEXT_CERT_FILE=str(folder / "next.crt"),
        )
        settings.enable()
        self.addCleanup(settings.disable)
        keys.upcoming.cache_clear()
        self.addCleanup(keys.upcoming.cache_clear)

    def test_the_next_certificate_is_published_before_the_switch(self):
        metadata = self.client.get("/saml/idp-a/metadata/").content.decode()
        self.assertIn(certificate_body(keys.current().cert_file), metadata)
        self.assertIn("".join(self.next_cert.strip().splitlines()[1:-1]), metadata)

    def test_an_assertion_encrypted_to_the_next_certificate_decrypts(self):
        response = self.idp_a.server.create_authn_response(
            identity={"Email": ["alice@example.com"]},
            in_response_to=None,
            destination=acs_url("idp-a"),
            sp_entity_id=sp_entity_id("idp-a"),
            name_id=self.idp_a.name_id("alice@example.com"),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            sign_response=True,
            sign_assertion=True,
            sign_alg=self.idp_a.SIGN_ALG,
            digest_alg=self.idp_a.DIGEST_ALG,
            encrypt_assertion=True,
            encrypt_assertion_self_contained=True,
            encrypt_cert_assertion=self.next_cert,
        )
        saml_response = base64.b64encode(str(response).encode()).decode()
        self.assertSignedIn(self.post_response("idp-a", saml_response))


class ConfiguredKeyTests(SimpleTestCase):
    def setUp(self):
        keys.current.cache_clear()
        self.addCleanup(keys.current.cache_clear)
        self.folder = tempfile.mkdtemp()

    def test_pem_text_from_the_settings_is_written_to_a_private_file(self):
        key_pem, cert_pem = generate_self_signed("configured")
        with override_settings(
            SAML_IDPS_SP_KEY_PEM=key_pem.decode(),
            SAML_IDPS_SP_CERT_PEM=cert_pem.decode(),
            SAML_IDPS_SP_KEY_DIR=self.folder,
        ):
            pair = keys.current()
            self.assertTrue(keys.configured())
        self.assertEqual(Path(pair.key_file).read_bytes().strip(), key_pem.strip())
        self.assertEqual(stat.S_IMODE(os.stat(pair.key_file).st_mode), 0o600)

    def test_without_configuration_a_key_is_generated_once_into_the_key_folder(self):
        with override_settings(SAML_IDPS_SP_KEY_DIR=self.folder):
            first = keys.current()
            keys.current.cache_clear()
            again = keys.current()
        self.assertEqual(Path(first.key_file).parent, Path(self.folder))
        self.assertEqual(Path(first.cert_file).read_text(), Path(again.cert_file).read_text())

    def test_production_without_a_configured_key_gets_a_warning(self):
        with override_settings(DEBUG=False, SAML_IDPS_SP_KEY_DIR=self.folder):
            self.assertEqual([w.id for w in check_sp_key_configured(None)], ["saml_idps.W002"])

    def test_the_warning_names_the_apps_settings_for_the_key(self):
        with override_settings(DEBUG=False, SAML_IDPS_SP_KEY_DIR=self.folder):
            (warning,) = check_sp_key_configured(None)
        self.assertIn("Set SAML_IDPS_SP_KEY_FILE and SAML_IDPS_SP_CERT_FILE", warning.hint)

    def test_no_warning_with_a_configured_key(self):
        key_pem, cert_pem = generate_self_signed("configured")
        with override_settings(
            DEBUG=False,
            SAML_IDPS_SP_KEY_PEM=key_pem.decode(),
            SAML_IDPS_SP_CERT_PEM=cert_pem.decode(),
        ):
            self.assertEqual(check_sp_key_configured(None), [])
