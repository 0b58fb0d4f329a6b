"""What a metadata document must hold (idp_metadata) and which URLs are fetched, how (fetching)."""

import ipaddress
import os
import re
import socket
import ssl
import tempfile
from pathlib import Path
from unittest import mock

import xmlsec
from cryptography.hazmat.primitives import serialization
from django.test import SimpleTestCase, override_settings
from lxml import etree
from saml2.metadata import entity_descriptor, sign_entity_descriptor

from saml_idps import fetching, idp_metadata
from saml_idps.certificates import generate_self_signed
from saml_idps.idp_metadata import MetadataError

from .fixtures import (
    MetadataServer,
    free_port,
    in_aggregate,
    shared_idp,
    with_root_attributes,
    xml_route,
)
from .services import require_xmlsec1

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
            idp_metadata.parse(document)

    def test_idp_metadata_gives_its_entity_id_and_signing_certificate(self):
        idp = shared_idp("idp-a")
        document = idp_metadata.parse(idp.metadata_xml)
        self.assertEqual(document.entity_id, idp.entity_id)
        self.assertEqual(len(document.signing_certificates), 1)

    def test_doctype_is_refused(self):
        self.assertRefused(
            '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + entity("&e;"), "DOCTYPE"
        )

    def test_the_metadata_of_a_service_provider_is_refused(self):
        sp_only = entity(
            f"<md:SPSSODescriptor {PROTOCOL}><md:AssertionConsumerService "
            'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            'Location="https://sp.example.com/acs" index="0"/></md:SPSSODescriptor>'
        )
        self.assertRefused(sp_only, "no SAML 2.0 identity provider")

    def test_a_certificate_published_for_encryption_only_is_not_trusted_for_signatures(self):
        a, b = shared_idp("idp-a"), shared_idp("idp-b")
        encryption_only = re.search(
            r"<(?:\w+:)?KeyDescriptor\b.*?</(?:\w+:)?KeyDescriptor>", b.metadata_xml, re.DOTALL
        ).group(0)
        encryption_only = re.sub(r'\buse="signing"', "", encryption_only).replace(
            "KeyDescriptor ", 'KeyDescriptor use="encryption" ', 1
        )
        first = re.search(r"<(?:\w+:)?KeyDescriptor\b", a.metadata_xml).start()
        document = a.metadata_xml[:first] + encryption_only + a.metadata_xml[first:]
        self.assertIn('use="encryption"', document)
        certificates = idp_metadata.parse(document).signing_certificates
        self.assertEqual(
            [c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates],
            [a.certificate_pem],
        )

    def test_an_aggregate_without_an_idp_is_refused(self):
        self.assertRefused(
            f"<md:EntitiesDescriptor {MD}>{entity('')}</md:EntitiesDescriptor>",
            "holds no SAML 2.0 IdP",
        )

    def test_an_aggregate_holding_one_idp_gives_that_idp(self):
        # Keycloak before v12 wraps its realm's one IdP in an EntitiesDescriptor.
        idp = shared_idp("idp-a")
        document = idp_metadata.parse(in_aggregate(idp.metadata_xml))
        self.assertEqual(document.entity_id, idp.entity_id)
        self.assertNotIn("EntitiesDescriptor", document.xml)

    def test_an_idp_in_an_aggregate_nested_in_another_is_found_by_its_entity_id(self):
        # Federations (InCommon, eduGAIN) nest EntitiesDescriptors.
        a, b = shared_idp("idp-a"), shared_idp("idp-b")
        nested = in_aggregate(a.metadata_xml, in_aggregate(b.metadata_xml))
        self.assertEqual(idp_metadata.parse(nested, b.entity_id).entity_id, b.entity_id)

    def test_an_aggregate_of_several_idps_names_them_and_asks_for_one(self):
        a, b = shared_idp("idp-a"), shared_idp("idp-b")
        with self.assertRaisesMessage(MetadataError, "aggregate of 2 IdPs") as refused:
            idp_metadata.parse(in_aggregate(a.metadata_xml, b.metadata_xml))
        self.assertIn(a.entity_id, str(refused.exception))
        self.assertIn("--entity-id", str(refused.exception))
        self.assertEqual(
            idp_metadata.parse(in_aggregate(a.metadata_xml, b.metadata_xml), b.entity_id).entity_id,
            b.entity_id,
        )

    def test_a_placeholder_entity_id_is_refused_with_advice(self):
        idp = shared_idp("idp-a")
        multi_tenant = idp.metadata_xml.replace(
            idp.entity_id, "https://sts.windows.net/{tenantid}/"
        )
        self.assertRefused(multi_tenant, "placeholder")
        self.assertRefused(multi_tenant, "App Federation Metadata Url")

    def test_expired_metadata_says_when_and_where_to_get_a_fresh_copy(self):
        expired = with_root_attributes(
            shared_idp("idp-a").metadata_xml, validUntil="2020-01-01T00:00:00Z"
        )
        self.assertRefused(expired, "expired on 2020-01-01 00:00 UTC")
        self.assertRefused(expired, "Get a fresh copy from the IdP")

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

    def test_a_document_exactly_as_large_as_the_cap_is_read(self):
        document = shared_idp("idp-a").metadata_xml
        with override_settings(SAML_IDPS_METADATA_MAX_BYTES=len(document.encode())):
            self.assertEqual(idp_metadata.parse(document).entity_id, shared_idp("idp-a").entity_id)

    def test_the_idps_endpoints_are_read_with_their_binding_and_location(self):
        slo = (
            '<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            'Location="https://idp.example.com/slo"/>'
        )
        root = etree.fromstring(
            entity(f"<md:IDPSSODescriptor {PROTOCOL}>{SSO}{slo}</md:IDPSSODescriptor>")
        )
        self.assertEqual(
            idp_metadata.read_entity(root).endpoints,
            {
                (
                    "SingleSignOnService",
                    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
                    "https://idp.example.com/sso",
                ),
                (
                    "SingleLogoutService",
                    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                    "https://idp.example.com/slo",
                ),
            },
        )


@override_settings(DEBUG=False, SAML_IDPS_METADATA_ALLOW_INSECURE=False)
class MetadataSignatureTests(SimpleTestCase):
    """A signature is checked by the login's crypto backend, pinned certificate or not."""

    def setUp(self):
        self.idp = shared_idp("idp-a")
        self.signed = self.idp.signed_metadata_xml()

    def verdict(self, document, pinned=""):
        return idp_metadata.parse(document, pinned_certificate=pinned).signature

    def test_unsigned_metadata_is_marked_so(self):
        self.assertEqual(self.verdict(self.idp.metadata_xml), "unsigned")

    def test_a_signature_that_verifies_with_the_certificate_it_carries_is_marked_so(self):
        self.assertEqual(self.verdict(self.signed), "verified")

    def test_a_signature_that_does_not_verify_is_reported_without_a_pinned_certificate(self):
        altered = self.signed.replace("/sso/redirect", "/sso/elsewhere")
        self.assertNotEqual(altered, self.signed)
        self.assertEqual(self.verdict(altered), "invalid")

    def test_a_signature_by_a_key_the_document_does_not_carry_cannot_be_checked(self):
        # IdP A's metadata signed with another key, no KeyInfo: a federation's signature, say.
        _, signed = sign_entity_descriptor(
            entity_descriptor(self.idp.config), None, shared_idp("idp-b").server.sec
        )
        root = etree.fromstring(signed.encode())
        key_info = root.find(".//{http://www.w3.org/2000/09/xmldsig#}KeyInfo")
        key_info.getparent().remove(key_info)
        other_idps_metadata = etree.tostring(root).decode()
        self.assertEqual(self.verdict(other_idps_metadata), "unchecked")

    def test_a_signature_over_the_whole_document_verifies(self):
        # A Reference with URI="" signs the document it is in (pysaml2's metadata root has no
        # ID to refer to).
        root = etree.fromstring(self.idp.metadata_xml.encode())
        self.assertIsNone(root.get("ID"))
        signature = xmlsec.template.create(
            root, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256
        )
        root.insert(0, signature)
        reference = xmlsec.template.add_reference(
            signature, xmlsec.constants.TransformSha256, uri=""
        )
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
        xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_file(
            self.idp.config.key_file, xmlsec.constants.KeyDataFormatPem
        )
        context.key.load_cert_from_file(
            self.idp.config.cert_file, xmlsec.constants.KeyDataFormatPem
        )
        context.sign(signature)
        signed = etree.tostring(root).decode()
        self.assertEqual(self.verdict(signed), "verified")
        self.assertEqual(self.verdict(signed, self.idp.certificate_pem), "pinned")
        self.assertEqual(self.verdict(signed.replace("/sso/redirect", "/sso/elsewhere")), "invalid")

    def test_an_id_that_cannot_be_registered_is_a_verdict_not_a_crash(self):
        root = etree.fromstring(self.signed.encode())
        descriptor = root.find("{urn:oasis:names:tc:SAML:2.0:metadata}IDPSSODescriptor")
        descriptor.set("{http://www.w3.org/XML/1998/namespace}id", root.get("ID"))
        self.assertIn(self.verdict(etree.tostring(root).decode()), {"invalid", "verified"})

    def test_a_pinned_certificate_is_checked_by_each_backend(self):
        for backend in ("xmlsec", "xmlsec1"):
            with self.subTest(backend=backend), override_settings(SAML_IDPS_CRYPTO_BACKEND=backend):
                if backend == "xmlsec1":
                    require_xmlsec1()
                self.assertEqual(self.verdict(self.signed, self.idp.certificate_pem), "pinned")
                with self.assertRaisesMessage(MetadataError, "does not verify with the pinned"):
                    self.verdict(self.signed, shared_idp("idp-b").certificate_pem)

    def test_the_in_process_backend_needs_no_xmlsec1_program(self):
        with mock.patch.dict("os.environ", {"PATH": tempfile.mkdtemp()}):
            self.assertEqual(self.verdict(self.signed, self.idp.certificate_pem), "pinned")
            self.assertEqual(self.verdict(self.signed), "verified")


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
            "https://127.1/metadata": "not a public address",
            "https://2130706433/metadata": "not a public address",
            "https://0177.0.0.1/metadata": "not a public address",
            "https://0x7f.0.0.1/metadata": "not a public address",
            "https://[fe80::1]/metadata": "not a public address",
            "https://224.0.0.1/metadata": "not a public address",
            "https://[64:ff9b::7f00:1]/metadata": "not a public address",  # NAT64
            "https://[64:ff9b:1::7f00:1]/metadata": "not a public address",  # local NAT64
            "https://[2002:7f00:1::]/metadata": "not a public address",  # 6to4
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/metadata": "not a public address",
            "https://[::7f00:1]/metadata": "not a public address",  # IPv4-compatible
            "https://[fec0::1]/metadata": "not a public address",  # site-local
            "https://user@idp.example.com/metadata": "user name or password",
        }
        for url, fragment in cases.items():
            with self.subTest(url=url), self.assertRaisesMessage(MetadataError, fragment):
                fetching.check_url(url)

    def test_public_https_url_is_allowed_and_resolved_to_its_address(self):
        self.assertEqual(
            fetching.check_url("https://93.184.215.14/metadata"),
            ("93.184.215.14", ipaddress.ip_address("93.184.215.14")),
        )
        v6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
        self.assertEqual(
            fetching.check_url(f"https://[{v6}]/metadata")[1], ipaddress.ip_address(v6)
        )

    @override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
    def test_insecure_setting_allows_http_and_loopback(self):
        self.assertEqual(
            fetching.check_url("http://127.0.0.1:8000/metadata")[1],
            ipaddress.ip_address("127.0.0.1"),
        )

    @override_settings(DEBUG=True)
    def test_debug_allows_http_and_loopback(self):
        hostname, address = fetching.check_url("http://localhost:8000/metadata")
        self.assertEqual(hostname, "localhost")
        self.assertTrue(address.is_loopback)


LAST_MODIFIED = "Sun, 29 Nov 2026 10:00:00 GMT"


def fake_dns(answers):
    """getaddrinfo for names of ours: each lookup of a name takes the next of its addresses."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        address = answers[host].pop(0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return mock.patch("socket.getaddrinfo", getaddrinfo)


@override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
class FetchTests(SimpleTestCase):
    def setUp(self):
        self.server = MetadataServer(self, {"/metadata": xml_route("<x/>")})
        self.port = self.server.httpd.server_address[1]

    def test_host_header_names_the_urls_host(self):
        self.assertEqual(fetching.fetch(f"http://localhost:{self.port}/metadata").body, b"<x/>")
        self.assertEqual(self.server.requests[-1]["Host"], f"localhost:{self.port}")

    def test_proxies_named_by_the_environment_are_not_used(self):
        # A proxy would connect on our behalf to whatever address it resolves itself.
        proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        variables = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
        environment = {name: proxy for name in variables} | {"NO_PROXY": "", "no_proxy": ""}
        environment |= {name.lower(): proxy for name in variables[:3]}
        with mock.patch.dict("os.environ", environment):
            body = fetching.fetch(f"http://localhost:{self.port}/metadata").body
        self.assertEqual(body, b"<x/>")

    def test_a_first_fetch_sends_no_validator(self):
        fetching.fetch(f"http://localhost:{self.port}/metadata")
        self.assertNotIn("If-None-Match", self.server.requests[-1])
        self.assertNotIn("If-Modified-Since", self.server.requests[-1])

    def test_a_document_without_validators_is_fetched_whole_next_time(self):
        fetched = fetching.fetch(f"http://localhost:{self.port}/metadata")
        self.assertEqual((fetched.etag, fetched.last_modified), ("", ""))

    def test_the_validators_of_a_document_are_kept_for_the_next_fetch(self):
        self.server.routes["/metadata"] = xml_route(
            "<x/>", **{"ETag": '"v1"', "Last-Modified": LAST_MODIFIED}
        )
        fetched = fetching.fetch(f"http://localhost:{self.port}/metadata")
        self.assertEqual((fetched.etag, fetched.last_modified), ('"v1"', LAST_MODIFIED))

    def test_a_document_unchanged_since_its_last_modified_date_is_not_sent_again(self):
        self.server.routes["/metadata"] = xml_route("<x/>", **{"Last-Modified": LAST_MODIFIED})
        fetched = fetching.fetch(
            f"http://localhost:{self.port}/metadata", last_modified=LAST_MODIFIED
        )
        self.assertEqual(fetched, fetching.Fetched(None, "", LAST_MODIFIED))

    def test_not_modified_keeps_both_validators(self):
        self.server.routes["/metadata"] = xml_route("<x/>", ETag='"v1"')
        fetched = fetching.fetch(
            f"http://localhost:{self.port}/metadata", etag='"v1"', last_modified=LAST_MODIFIED
        )
        self.assertEqual(fetched, fetching.Fetched(None, '"v1"', LAST_MODIFIED))

    def test_a_document_exactly_as_large_as_the_cap_is_read(self):
        with override_settings(SAML_IDPS_METADATA_MAX_BYTES=len(b"<x/>")):
            body = fetching.fetch(f"http://localhost:{self.port}/metadata").body
        self.assertEqual(body, b"<x/>")

    @override_settings(SAML_IDPS_METADATA_TIMEOUT=(1, 1))
    def test_a_server_that_takes_the_connection_but_never_answers_is_given_up(self):
        listener = socket.create_server(("127.0.0.1", 0))  # listens, never accepts or answers
        self.addCleanup(listener.close)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/metadata"
        with self.assertRaisesMessage(MetadataError, "did not answer in time"):
            fetching.fetch(url)

    def test_connects_to_the_address_that_was_checked_not_a_later_dns_answer(self):
        # The check sees 127.0.0.2, where nothing listens; a second lookup would give the
        # server's 127.0.0.1. Only a fetch that resolves again (DNS rebinding) reaches it.
        with (
            fake_dns({"rebind.test": ["127.0.0.2", "127.0.0.1"]}),
            self.assertRaisesMessage(MetadataError, "Could not fetch the metadata"),
        ):
            fetching.fetch(f"http://rebind.test:{self.port}/metadata")
        self.assertEqual(self.server.requests, [])


@override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)  # the server is on loopback
class PinnedAddressTlsTests(SimpleTestCase):
    """fetch() connects to the checked address without weakening TLS: the server's certificate
    is still verified for the metadata URL's host name, and a failure says so."""

    def setUp(self):
        folder = Path(tempfile.mkdtemp())
        ca_file = folder / "server.pem"
        key_file = folder / "server.key"
        key_pem, cert_pem = generate_self_signed(
            "metadata.test", days=1, dns_names=["metadata.test"]
        )
        ca_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        server = MetadataServer(self, {"/metadata": xml_route("<x/>")})
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(ca_file, key_file)
        server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
        self.port = server.httpd.server_address[1]
        # The operator's CA bundle, which fetch() honours; both names resolve to the server.
        self.enterContext(mock.patch.dict("os.environ", {"REQUESTS_CA_BUNDLE": str(ca_file)}))
        self.enterContext(fake_dns({"metadata.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}))

    def test_certificate_for_the_host_name_is_accepted_at_the_pinned_address(self):
        self.assertEqual(
            fetching.fetch(f"https://metadata.test:{self.port}/metadata").body, b"<x/>"
        )

    def test_without_an_operator_ca_bundle_a_self_signed_certificate_is_refused(self):
        # The system's CAs then decide, and none of them signed the test server's certificate.
        self.enterContext(mock.patch.dict("os.environ"))  # restored when the test ends
        for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            os.environ.pop(name, None)
        with self.assertRaisesMessage(MetadataError, "TLS certificate was not accepted"):
            fetching.fetch(f"https://metadata.test:{self.port}/metadata")

    def test_an_operator_ca_bundle_named_for_curl_is_honoured_too(self):
        self.enterContext(mock.patch.dict("os.environ"))  # restored when the test ends
        os.environ["CURL_CA_BUNDLE"] = os.environ.pop("REQUESTS_CA_BUNDLE")
        self.assertEqual(
            fetching.fetch(f"https://metadata.test:{self.port}/metadata").body, b"<x/>"
        )

    def test_certificate_for_another_host_name_is_refused_naming_tls(self):
        with self.assertRaisesMessage(MetadataError, "TLS certificate was not accepted"):
            fetching.fetch(f"https://other.test:{self.port}/metadata")
