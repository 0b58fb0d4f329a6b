"""Real IdP products' output (tests/realworld/): every metadata document registers through the
admin and the command line, or is refused with a message saying what to do; every captured
response signs in exactly the NameID it carries, through both crypto backends alike, and a copy
with its NameID or an attribute value changed is refused by both."""

import base64
import contextlib
import io
import unittest
import warnings
from importlib import import_module

import time_machine
from cryptography.utils import CryptographyDeprecationWarning
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client, SimpleTestCase, TestCase, override_settings
from djangosaml2.cache import OutstandingQueriesCache
from lxml import etree
from saml2.md import NAMESPACE as MD_NS

from saml_idps import crypto, idp_metadata, keys, metadata
from saml_idps.models import IdentityLink, IdentityProvider, LoginAttempt
from saml_idps.normalize import normalize_name_id
from saml_idps.response_checks import NS_SAML
from saml_idps.sessions import SESSION_PENDING_REQUESTS

from .realworld import CAPTURED, FOLDER, METADATA
from .services import XMLSEC1_MISSING, require_xmlsec1
from .test_cli import write

CERTIFICATE_BEGIN, CERTIFICATE_END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"


def minimal_idp_metadata(entity_id, certificate_pem):
    """The smallest IdP metadata trusting ``certificate_pem`` for ``entity_id``: what an admin
    registers when an IdP hands over its certificate and entity ID."""
    body = "".join(
        line.strip()
        for line in certificate_pem.split(CERTIFICATE_BEGIN)[1].split(CERTIFICATE_END)[0].split()
    )
    root = etree.Element(f"{{{MD_NS}}}EntityDescriptor", entityID=entity_id, nsmap={"md": MD_NS})
    idp = etree.SubElement(
        root,
        f"{{{MD_NS}}}IDPSSODescriptor",
        protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol",
    )
    key = etree.SubElement(idp, f"{{{MD_NS}}}KeyDescriptor", use="signing")
    ds = "http://www.w3.org/2000/09/xmldsig#"
    data = etree.SubElement(etree.SubElement(key, f"{{{ds}}}KeyInfo"), f"{{{ds}}}X509Data")
    etree.SubElement(data, f"{{{ds}}}X509Certificate").text = body
    etree.SubElement(
        idp,
        f"{{{MD_NS}}}SingleSignOnService",
        Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        Location="https://idp.invalid/sso",
    )
    return etree.tostring(root, encoding="unicode")


def remember_sent_request(client, slug, request_id):
    """What our login view keeps in the SAML session when it sends an AuthnRequest to ``slug``:
    for a captured response that answers one (InResponseTo)."""
    saml_session = import_module(settings.SESSION_ENGINE).SessionStore()
    OutstandingQueriesCache(saml_session).set(request_id, "/user/")
    saml_session[SESSION_PENDING_REQUESTS] = {request_id: slug}
    saml_session.save()
    client.cookies[settings.SAML_SESSION_COOKIE_NAME] = saml_session.session_key


def changed(document, element, new_text):
    """The document with ``element``'s text replaced; everything else as it was."""
    element_text = element.text
    start = document.index(f">{element_text}<".encode())
    return document[:start] + f">{new_text}<".encode() + document[start + len(element_text) + 2 :]


def accept_negative_serial_numbers(test):
    """Entra ID's certificates of 2014 have a negative serial number, which cryptography accepts
    with a warning (RFC 5280 wants it positive): quiet for the duration of ``test``."""
    test.enterContext(warnings.catch_warnings())
    warnings.filterwarnings("ignore", "Parsed a serial number", CryptographyDeprecationWarning)


def register_real_metadata(file, slug):
    """An IdP row from one of the real metadata documents, as the admin registers it."""
    document = next(document for document in METADATA if document.file == file)
    row = IdentityProvider(slug=slug, name=document.product)
    metadata.register(row, metadata.check_new_copy(row, xml=document.path.read_text()))
    return row


class CapturedResponseTests(TestCase):
    """One test per captured response (generated below): the IdP registered with the certificate
    that signed it, our SP entity ID and ACS URL set to what the response carries, SHA-1 allowed
    only where it uses it, and the clock at its IssueInstant."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        keys.current()  # made now if it must be generated, not at a response's frozen time

    def setUp(self):
        accept_negative_serial_numbers(self)

    def register(self, captured):
        row = IdentityProvider(
            slug=captured.slug,
            name=captured.product,
            sp_entity_id=captured.audience,
            acs_url=captured.recipient,
            allow_sha1=captured.uses_sha1,
        )
        row.full_clean(exclude=["entity_id", "metadata_xml"])
        document = minimal_idp_metadata(captured.issuer, captured.certificate_pem)
        metadata.register(row, metadata.check_new_copy(row, xml=document))
        return row

    def verdict(self, captured, document, backend):
        """(status, reason code, NameID signed in) of posting ``document`` with ``backend``,
        in a transaction rolled back afterwards, from a browser of its own."""
        client = Client()
        if captured.in_response_to:
            remember_sent_request(client, captured.slug, captured.in_response_to)
        with (
            override_settings(SAML_IDPS_CRYPTO_BACKEND=backend),
            self.sp_key_pair_of(captured),
            time_machine.travel(captured.issued_at, tick=False),
            transaction.atomic(),
        ):
            response = client.post(
                f"/saml/{captured.slug}/acs/",
                {"SAMLResponse": base64.b64encode(document).decode()},
            )
            attempt = LoginAttempt.objects.order_by("pk").last()
            signed_in = client.session.get("_auth_user_id")
            name_ids = list(
                IdentityLink.objects.filter(user_id=signed_in).values_list("name_id", flat=True)
            )
            transaction.set_rollback(True)
        return response.status_code, attempt.reason if attempt else None, name_ids

    @contextlib.contextmanager
    def sp_key_pair_of(self, captured):
        """The key pair of the SP an encrypted response was encrypted to, as our next pair
        (which decrypts during a rollover), for the duration."""
        if not captured.sp_key:
            yield
            return
        with override_settings(
            SAML_IDPS_SP_NEXT_KEY_FILE=captured.sp_file(captured.sp_key),
            SAML_IDPS_SP_NEXT_CERT_FILE=captured.sp_file(captured.sp_certificate),
        ):
            keys.upcoming.cache_clear()
            try:
                yield
            finally:
                keys.upcoming.cache_clear()

    def assertSameVerdictFromBothBackends(self, captured, document):
        """The verdict of the in-process backend, the same as pysaml2's xmlsec1 one where that
        program is installed (in CI it must be)."""
        verdict = self.verdict(captured, document, crypto.XMLSEC)
        try:
            require_xmlsec1()
        except unittest.SkipTest:
            self.stock_backend_missing = True
            return verdict
        self.assertEqual(verdict, self.verdict(captured, document, crypto.XMLSEC1), captured.file)
        return verdict

    def tearDown(self):
        # Everything else was checked; say that the comparison could not be made.
        if getattr(self, "stock_backend_missing", False):
            self.skipTest(XMLSEC1_MISSING)
        super().tearDown()

    def check_signs_in(self, captured):
        self.register(captured)
        status, reason, name_ids = self.assertSameVerdictFromBothBackends(
            captured, captured.document
        )
        self.assertEqual((status, reason), (302, ""), captured.file)
        self.assertEqual(name_ids, [normalize_name_id(captured.name_id)])

    def check_refused(self, captured):
        self.register(captured)
        status, reason, name_ids = self.assertSameVerdictFromBothBackends(
            captured, captured.document
        )
        self.assertEqual((status, reason, name_ids), (403, captured.refused, []), captured.file)
        self.assertFalse(get_user_model().objects.exists())

    def check_changed_copies_are_refused(self, captured):
        self.register(captured)
        root = captured.root
        name_id = root.find(f".//{{{NS_SAML}}}NameID")
        value = next(
            (v for v in root.iter(f"{{{NS_SAML}}}AttributeValue") if (v.text or "").strip()),
            None,
        )
        copies = {"NameID": changed(captured.document, name_id, "mallory@example.com")}
        if value is not None:
            copies["attribute value"] = changed(captured.document, value, "Mallory")
        for what, document in copies.items():
            with self.subTest(changed=what):
                status, reason, name_ids = self.assertSameVerdictFromBothBackends(
                    captured, document
                )
                self.assertEqual((status, reason, name_ids), (403, "signature_invalid", []))
        self.assertFalse(get_user_model().objects.exists())


def add_test(test_case, fixture, check, outcome):
    """A test method of ``test_case`` running ``check`` (a method name) on ``fixture``, named and
    described after the fixture and the ``outcome`` it expects."""

    def test(self):
        getattr(self, check)(fixture)

    test.__doc__ = f"{fixture.product}: {fixture.file} {outcome.replace('_', ' ')}."
    name = fixture.slug.replace("-", "_").replace(".", "_")
    setattr(test_case, f"test_{name}_{outcome}", test)


for _captured in CAPTURED:
    if _captured.refused:
        add_test(CapturedResponseTests, _captured, "check_refused", "is_refused_rightly")
        continue
    add_test(CapturedResponseTests, _captured, "check_signs_in", "signs_in_its_name_id")
    if not _captured.sp_key:  # an encrypted NameID cannot be changed in place
        add_test(
            CapturedResponseTests,
            _captured,
            "check_changed_copies_are_refused",
            "changed_is_refused",
        )


@override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
class RealMetadataTests(TestCase):
    """One test per document (generated below), through the admin's form and the command line."""

    def setUp(self):
        admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)
        accept_negative_serial_numbers(self)

    def add_in_the_admin(self, document):
        return self.client.post(
            "/admin/saml_idps/identityprovider/add/",
            {
                "slug": document.slug,
                "name": document.product,
                "metadata_xml": document.path.read_text(),
            },
        )

    def add_on_the_command_line(self, document):
        call_command(
            "saml_idps",
            "add",
            document.slug,
            "--metadata-file",
            write(document.path.read_text()),
            stdout=io.StringIO(),
        )

    def check_registers(self, document):
        with warnings.catch_warnings():
            # Entra ID's certificates of 2014 have a negative serial number, which cryptography
            # accepts with a warning (RFC 5280 wants it positive).
            warnings.filterwarnings(
                "ignore", "Parsed a serial number", CryptographyDeprecationWarning
            )
            response = self.add_in_the_admin(document)
        self.assertEqual(response.status_code, 302, response.content[-3000:])
        row = IdentityProvider.objects.get(slug=document.slug)
        self.assertEqual(row.metadata_signature, document.signature)
        self.assertLoginGoesToAnSsoUrlOfItsMetadata(row)
        self.assertSpMetadataIsValid(row)
        row.delete()
        self.add_on_the_command_line(document)
        self.assertTrue(IdentityProvider.objects.filter(slug=document.slug).exists())

    def check_refused(self, document):
        response = self.add_in_the_admin(document)
        self.assertContains(response, "errornote")
        self.assertContains(response, document.refused)
        with self.assertRaisesMessage(CommandError, document.refused):
            self.add_on_the_command_line(document)
        self.assertFalse(IdentityProvider.objects.exists())

    def assertLoginGoesToAnSsoUrlOfItsMetadata(self, row):
        sso_urls = {
            location
            for service, _binding, location in idp_metadata.parse(row.metadata_xml).endpoints
            if service == "SingleSignOnService"
        }
        response = Client().get(f"/saml/{row.slug}/login/")  # someone not signed in
        if response.status_code == 302:
            target = response["Location"].split("?")[0]
        else:
            self.assertEqual(response.status_code, 200)
            form = etree.fromstring(response.content, etree.HTMLParser()).find(".//form")
            target = form.get("action")
        self.assertIn(target, {url.split("?")[0] for url in sso_urls})

    def assertSpMetadataIsValid(self, row):
        response = self.client.get(f"/saml/{row.slug}/metadata/")
        self.assertEqual(response.status_code, 200)
        root = etree.fromstring(response.content)
        self.assertEqual(root.get("entityID"), f"http://testserver/saml/{row.slug}/metadata/")
        self.assertIsNotNone(root.find(f"{{{MD_NS}}}SPSSODescriptor"))


for _document in METADATA:
    if _document.refused:
        add_test(RealMetadataTests, _document, "check_refused", "is_refused_with_advice")
    else:
        add_test(RealMetadataTests, _document, "check_registers", "registers")


class CorpusTests(SimpleTestCase):
    def test_every_file_is_used_and_named_in_sources(self):
        used = {document.file for document in METADATA}
        for captured in CAPTURED:
            used |= {captured.file, captured.certificate, captured.sp_key, captured.sp_certificate}
        used.discard("")
        on_disk = {
            path.name
            for folder in ("responses", "metadata")
            for path in (FOLDER / folder).glob("*")
        }
        self.assertEqual(on_disk, used)
        sources = (FOLDER / "SOURCES.md").read_text()
        for name in sorted({document.file for document in METADATA} | {c.file for c in CAPTURED}):
            with self.subTest(file=name):
                self.assertTrue(name in sources, f"{name} is not in SOURCES.md")

    def test_the_corpus_covers_eight_products_signing_in_and_ten_in_metadata(self):
        signing_in = {c.product.split(" (")[0] for c in CAPTURED if not c.refused}
        self.assertGreaterEqual(len(signing_in), 8, signing_in)
        registering = {d.product for d in METADATA if not d.refused}
        self.assertGreaterEqual(len(registering), 10, registering)
