"""What saml_idps.metadata accepts as IdP metadata and which URLs it will fetch."""

from django.test import SimpleTestCase, override_settings

from saml_idps import metadata
from saml_idps.metadata import MetadataError

from .fixtures import shared_idp

MD = 'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
PROTOCOL = 'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"'
SSO = (
    '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
    'Location="https://idp.example.com/sso"/>'
)


def entity(body, entity_id="https://idp.example.com"):
    return f'<md:EntityDescriptor {MD} entityID="{entity_id}">{body}</md:EntityDescriptor>'


class ParseTests(SimpleTestCase):
    def assertRefused(self, document, fragment):
        with self.assertRaisesMessage(MetadataError, fragment):
            metadata.parse(document)

    def test_idp_metadata_gives_its_entity_id_and_signing_certificate(self):
        idp = shared_idp("idp-a")
        document = metadata.parse(idp.metadata_xml)
        self.assertEqual(document.entity_id, idp.entity_id)
        self.assertEqual(len(document.signing_certificates), 1)

    def test_doctype_is_refused(self):
        self.assertRefused(
            '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + entity("&e;"), "DOCTYPE"
        )

    def test_aggregate_of_entities_is_refused(self):
        self.assertRefused(
            f"<md:EntitiesDescriptor {MD}>{entity('')}</md:EntitiesDescriptor>", "aggregate"
        )

    def test_other_xml_is_refused(self):
        self.assertRefused("<html><body/></html>", "no EntityDescriptor")

    def test_broken_xml_is_refused(self):
        self.assertRefused("<md:EntityDescriptor", "not well-formed")

    def test_missing_entity_id_is_refused(self):
        self.assertRefused(entity("", entity_id=""), "no entityID")

    def test_idp_without_single_sign_on_service_is_refused(self):
        self.assertRefused(entity(f"<md:IDPSSODescriptor {PROTOCOL}/>"), "SingleSignOnService")

    def test_idp_without_signing_certificate_is_refused(self):
        self.assertRefused(
            entity(f"<md:IDPSSODescriptor {PROTOCOL}>{SSO}</md:IDPSSODescriptor>"),
            "no signing certificate",
        )

    def test_unreadable_certificate_is_refused(self):
        key = (
            '<md:KeyDescriptor use="signing"><ds:KeyInfo '
            'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>'
            "bm90IGEgY2VydA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        )
        self.assertRefused(
            entity(f"<md:IDPSSODescriptor {PROTOCOL}>{key}{SSO}</md:IDPSSODescriptor>"),
            "cannot be read",
        )

    @override_settings(SAML_IDPS_METADATA_MAX_BYTES=100)
    def test_oversized_document_is_refused(self):
        self.assertRefused(shared_idp("idp-a").metadata_xml, "larger than")


@override_settings(DEBUG=False, SAML_IDPS_METADATA_ALLOW_INSECURE=False)
class CheckUrlTests(SimpleTestCase):
    def test_refused_urls(self):
        cases = {
            "http://idp.example.com/metadata": "https://",
            "ftp://idp.example.com/metadata": "https://",
            "file:///etc/passwd": "https://",
            "https://user:pw@idp.example.com/metadata": "user name or password",
            "https://localhost/metadata": "not a public address",
            "https://127.0.0.1/metadata": "not a public address",
            "https://10.0.0.8/metadata": "not a public address",
            "https://169.254.169.254/latest": "not a public address",
            "https://[::1]/metadata": "not a public address",
            "https://[::ffff:127.0.0.1]/metadata": "not a public address",
            "https://0.0.0.0/metadata": "not a public address",
        }
        for url, fragment in cases.items():
            with self.subTest(url=url), self.assertRaisesMessage(MetadataError, fragment):
                metadata.check_url(url)

    def test_public_https_url_is_allowed(self):
        metadata.check_url("https://93.184.215.14/metadata")

    @override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
    def test_insecure_setting_allows_http_and_loopback(self):
        metadata.check_url("http://127.0.0.1:8000/metadata")

    @override_settings(DEBUG=True)
    def test_debug_allows_http_and_loopback(self):
        metadata.check_url("http://localhost:8000/metadata")
