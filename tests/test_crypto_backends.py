"""The in-process crypto backend (the default) judged against pysaml2's xmlsec1 program.

Every response the login, attack and SP-key suites post is first posted with the xmlsec1 backend
and undone, then posted with the in-process one: the verdicts must be the same, and the suite's
own assertions must hold. Below them, the in-process backend's own refusals."""

import base64
import copy
import os
import re
import tempfile
from unittest import mock

import saml2.config
import saml2.entity
import saml2.sigver
from django.db import transaction
from django.test import RequestFactory, SimpleTestCase, override_settings
from lxml import etree
from saml2 import samlp
from saml2.client import Saml2Client
from saml2.saml import NAMESPACE as SAML_NS
from saml2.samlp import response_from_string
from saml2.sigver import SignatureError, SigverError, XmlsecError
from saml2.xml.schema import XMLSchemaError
from saml2.xml.schema import validate as pysaml2_validate
from saml2.xmldsig import NAMESPACE as DSIG_NS

from saml_idps import crypto, keys, schemas
from saml_idps.conf import app_setting
from saml_idps.config import build_sp_config, sp_urls
from saml_idps.models import LoginAttempt

from . import test_attacks, test_login, test_sp_keys, test_test_sign_in
from .attacks import tree
from .fixtures import SamlTestCase, acs_url, sp_entity_id
from .services import require_xmlsec1

RESPONSE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
REFERENCE = f"{{{DSIG_NS}}}Signature/{{{DSIG_NS}}}SignedInfo/{{{DSIG_NS}}}Reference"


class BothBackends:
    """Posts each response with the xmlsec1 backend inside a rolled-back savepoint (session,
    audit log, replay store and cookies restored), then with the default backend, and requires
    the same outcome: status, redirect, audit reason, signed in or not."""

    def post_response(self, slug, saml_response, relay_state="", client=None):
        require_xmlsec1()
        client = client or self.client
        cookies = copy.deepcopy(client.cookies)
        with override_settings(SAML_IDPS_CRYPTO_BACKEND=crypto.XMLSEC1), transaction.atomic():
            expected = self.verdict(client, super().post_response, slug, saml_response, relay_state)
            transaction.set_rollback(True)
        client.cookies = cookies
        response = None

        def post(*args):
            nonlocal response
            response = super(BothBackends, self).post_response(*args)
            return response

        self.assertEqual(self.verdict(client, post, slug, saml_response, relay_state), expected)
        return response

    @staticmethod
    def verdict(client, post, slug, saml_response, relay_state):
        before = LoginAttempt.objects.order_by("pk").last()
        response = post(slug, saml_response, relay_state, client)
        attempts = LoginAttempt.objects.filter(pk__gt=before.pk if before else 0)
        return (
            response.status_code,
            response.get("Location"),
            list(attempts.values_list("outcome", "reason")),
            "_auth_user_id" in client.session,
        )


def judged_by_both(test_case):
    name = f"BothBackends{test_case.__name__}"
    return type(name, (BothBackends, test_case), {"__module__": __name__})


# The suites whose responses exercise signatures and decryption, each run a second time here.
for _suite in (
    test_attacks.MessageShapeTests,
    test_attacks.SignatureTests,
    test_attacks.SchemaTests,
    test_attacks.XmlSignatureWrappingTests,
    test_attacks.ConditionsTests,
    test_attacks.RelayStateTests,
    test_login.SpInitiatedLoginTests,
    test_login.IdpInitiatedLoginTests,
    test_login.RefusedResponseTests,
    test_sp_keys.SpKeyTests,
    test_sp_keys.KeyRolloverTests,
    test_test_sign_in.VerdictTests,
    test_test_sign_in.RefusedAnswerTests,
):
    _judged = judged_by_both(_suite)
    globals()[_judged.__name__] = _judged
del _suite, _judged  # else the last suite would be collected twice, once under this name


class InProcessBackendTests(SamlTestCase):
    """What the in-process backend refuses by itself, below the ACS's own checks."""

    def genuine(self):
        return tree(self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a")))

    def validate(self, document, node_id, cert_file=None):
        return crypto.XmlSecBindings().validate_signature(
            document, cert_file or self.idp_a.config.cert_file, "pem", RESPONSE, node_id
        )

    def test_a_genuine_response_signature_verifies(self):
        root = self.genuine()
        self.assertTrue(self.validate(etree.tostring(root), root.get("ID")))

    def test_a_doctype_is_refused(self):
        root = self.genuine()
        document = b"<!DOCTYPE Response>" + etree.tostring(root)
        with self.assertRaisesMessage(XmlsecError, "document type"):
            self.validate(document, root.get("ID"))

    def assertRefusedUnread(self, declaration, root):
        """A document whose declaration names a file outside it: refused for its document
        type, the file never read (reading it would fail the parse: it is not XML)."""
        with tempfile.NamedTemporaryFile(suffix=".xml") as outside:
            outside.write(b"<unclosed")
            outside.flush()
            document = declaration.format(url=f"file://{outside.name}").encode()
            with self.assertRaisesMessage(XmlsecError, "document type"):
                self.validate(document + etree.tostring(root), root.get("ID"))

    def test_an_external_entity_is_refused_unread(self):
        root = self.genuine()
        root.append(etree.Entity("x"))
        self.assertRefusedUnread('<!DOCTYPE Response [<!ENTITY x SYSTEM "{url}">]>', root)

    def test_an_external_document_type_is_refused_unread(self):
        self.assertRefusedUnread('<!DOCTYPE Response SYSTEM "{url}">', self.genuine())

    def test_a_document_nested_deeper_than_256_elements_is_unreadable(self):
        root = self.genuine()
        innermost = root
        for _ in range(300):
            innermost = etree.SubElement(innermost, "Extensions")
        with self.assertRaisesMessage(XmlsecError, "unreadable XML"):
            self.validate(etree.tostring(root), root.get("ID"))

    def test_a_reference_to_another_document_is_refused(self):
        root = self.genuine()
        root.find(REFERENCE).set("URI", "file:///etc/passwd")
        with self.assertRaisesMessage(XmlsecError, "one reference"):
            self.validate(etree.tostring(root), root.get("ID"))

    def test_a_repeated_id_is_refused(self):
        root = self.genuine()
        root.append(copy.deepcopy(root))
        with self.assertRaisesMessage(XmlsecError, "used twice"):
            self.validate(etree.tostring(root), root.get("ID"))

    def test_a_statement_handed_over_as_pysaml2_object_is_signed(self):
        # pysaml2's CryptoBackend contract: the statement to sign may be a SamlBase or its text.
        statement = response_from_string(
            base64.b64decode(self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a")))
        )
        statement.signature.signature_value.text = ""  # a template again: nothing signed yet
        statement.signature.signed_info.reference[0].digest_value.text = ""
        signed = crypto.XmlSecBindings().sign_statement(
            statement, RESPONSE, self.idp_a.config.key_file, statement.id
        )
        self.assertTrue(self.validate(signed.encode(), statement.id))

    def test_only_the_given_certificate_is_used_never_keyinfo(self):
        root = self.genuine()  # its KeyInfo carries IdP A's certificate
        with self.assertRaisesMessage(XmlsecError, "signature check failed"):
            self.validate(etree.tostring(root), root.get("ID"), self.idp_b.config.cert_file)


class SchemaValidatorTests(SamlTestCase):
    """libxml2 (schemas.py) and pysaml2's xmlschema validator judge documents alike."""

    def verdict(self, validate, document):
        try:
            validate(document)
        except XMLSchemaError:
            return "refused"
        return "valid"

    def assertSameVerdict(self, document, expected):
        self.assertEqual(self.verdict(pysaml2_validate, document), expected)
        self.assertEqual(self.verdict(schemas.validate, document), expected)

    def assertion(self):
        response = response_from_string(
            base64.b64decode(self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a")))
        )
        return response, response.assertion[0]

    def test_a_genuine_response_and_its_assertion_are_valid(self):
        response, assertion = self.assertion()
        self.assertSameVerdict(str(response), "valid")
        self.assertSameVerdict(str(assertion), "valid")

    def test_an_unknown_element_is_refused(self):
        _, assertion = self.assertion()
        root = etree.fromstring(str(assertion).encode())
        root.find(f"{{{SAML_NS}}}Subject").addnext(etree.Element(f"{{{SAML_NS}}}Role"))
        self.assertSameVerdict(etree.tostring(root).decode(), "refused")

    def test_a_missing_required_attribute_is_refused(self):
        _, assertion = self.assertion()
        document = re.sub(r' ID="[^"]+"', "", str(assertion), count=1)
        self.assertSameVerdict(document, "refused")

    def test_a_wrong_date_is_refused(self):
        _, assertion = self.assertion()
        document = re.sub(r'IssueInstant="[^"]+"', 'IssueInstant="soon"', str(assertion), count=1)
        self.assertSameVerdict(document, "refused")

    def test_an_element_of_no_saml_schema_is_refused(self):
        self.assertSameVerdict("<html/>", "refused")


class SpKeyAndSecurityContextReuseTests(SamlTestCase):
    def setUp(self):
        super().setUp()
        crypto._rsa_key.cache_clear()
        self.request = RequestFactory().get("/")

    def config(self, row):
        return build_sp_config(row, sp_urls(row, self.request))

    def test_clients_built_on_one_config_share_its_security_context(self):
        config = self.config(self.row_a)
        self.assertIs(Saml2Client(config).sec, Saml2Client(config).sec)

    def test_each_config_has_a_context_on_its_own_metadata(self):
        config_a, config_b = self.config(self.row_a), self.config(self.row_b)
        sec_a, sec_b = Saml2Client(config_a).sec, Saml2Client(config_b).sec
        self.assertIsNot(sec_a, sec_b)
        self.assertIs(sec_a.metadata, config_a.metadata)
        self.assertIs(sec_b.metadata, config_b.metadata)

    def test_building_configs_and_clients_for_many_idps_loads_the_sp_key_once(self):
        for row in (self.row_a, self.row_b):
            Saml2Client(self.config(row))
        self.assertEqual(crypto._rsa_key.cache_info().misses, 1)

    def test_a_rewritten_key_file_is_loaded_again(self):
        key_file = keys.current().key_file
        crypto.import_rsa_key_from_file(key_file)
        mtime = os.stat(key_file).st_mtime_ns
        os.utime(key_file, ns=(mtime, mtime + 1))
        crypto.import_rsa_key_from_file(key_file)
        self.assertEqual(crypto._rsa_key.cache_info().misses, 2)


class ResponseParsedOnceTests(SamlTestCase):
    """pysaml2 loads a Response not signed as a whole twice, to learn that it is not; the
    in-process security context parses it once."""

    def setUp(self):
        super().setUp()
        config = build_sp_config(self.row_a, sp_urls(self.row_a, RequestFactory().get("/")))
        self.context = Saml2Client(config).sec

    def response_signed_once(self):
        saml_response = self.idp_a.response(
            acs_url("idp-a"), sp_entity_id("idp-a"), sign_response=False
        )
        return base64.b64decode(saml_response).decode()

    def load_as_pysaml2_does(self, text):
        with self.assertRaises(SignatureError):
            self.context.correctly_signed_response(text, require_response_signature=True)
        return self.context.correctly_signed_response(text)

    def test_a_response_not_signed_as_a_whole_is_parsed_once(self):
        parse = samlp.any_response_from_string
        with mock.patch.object(samlp, "any_response_from_string", wraps=parse) as spy:
            response = self.load_as_pysaml2_does(self.response_signed_once())
        self.assertEqual(spy.call_count, 1)
        self.assertIsNotNone(response.assertion[0].signature)

    def test_the_kept_parse_serves_only_the_very_same_text(self):
        first, second = self.response_signed_once(), self.response_signed_once()
        with self.assertRaises(SignatureError):
            self.context.correctly_signed_response(first, require_response_signature=True)
        response = self.context.correctly_signed_response(second)
        self.assertEqual(response.id, response_from_string(second).id)
        self.assertNotEqual(response.id, response_from_string(first).id)

    def test_the_kept_parse_is_not_served_when_a_signature_is_required(self):
        text = self.response_signed_once()
        self.load_as_pysaml2_does(text)
        with self.assertRaises(SignatureError):
            self.context.correctly_signed_response(text, require_response_signature=True)
        with self.assertRaises(SignatureError):
            self.context.correctly_signed_response(text, require_response_signature=True)

    def test_the_schema_of_a_signed_element_is_checked_by_libxml2(self):
        saml_response = self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a"))
        text = base64.b64decode(saml_response).decode().replace(' Version="2.0"', "", 1)
        with self.assertRaises(SignatureError) as raised:
            self.context.correctly_signed_response(text)
        self.assertIn("is required but missing", str(raised.exception))  # libxml2's words


class DefaultBackendTests(SimpleTestCase):
    def test_the_in_process_backend_is_the_default(self):
        self.assertEqual(app_setting("CRYPTO_BACKEND"), crypto.XMLSEC)


class OtherPysaml2UsersTests(SimpleTestCase):
    """The in-process backend serves the configurations this app builds; any other pysaml2
    configuration in the process (a host project's) gets pysaml2's own, as without this app."""

    def configuration(self, crypto_backend):
        config = saml2.config.SPConfig()
        config.load({"entityid": "https://host.example.com/sp", "crypto_backend": crypto_backend})
        return config

    def test_another_configuration_gets_pysaml2s_own_security_context_each_time(self):
        config = self.configuration("XMLSecurity")
        context = saml2.entity.security_context(config)
        self.assertIs(type(context), saml2.sigver.SecurityContext)
        self.assertIs(type(context.crypto), saml2.sigver.CryptoBackendXMLSecurity)
        self.assertIsNot(saml2.entity.security_context(config), context)

    def test_another_configuration_naming_our_backend_is_refused_as_pysaml2_refuses_it(self):
        with self.assertRaisesMessage(SigverError, "Unknown crypto_backend xmlsec"):
            saml2.entity.security_context(self.configuration(crypto.XMLSEC))

    def test_outside_our_signature_checks_pysaml2_checks_schemas_itself(self):
        document = f'<saml:Assertion xmlns:saml="{SAML_NS}"/>'
        with self.assertRaises(XMLSchemaError) as raised:
            saml2.sigver.validate_doc_with_schema(document)
        self.assertIn("Reason: missing required attribute", str(raised.exception))  # xmlschema's

    def test_pysaml2s_key_loader_is_its_own(self):
        self.assertEqual(saml2.sigver.import_rsa_key_from_file.__module__, "saml2.sigver")

    def test_this_apps_configuration_gets_one_in_process_context(self):
        config = build_sp_config(None, None)
        context = saml2.entity.security_context(config)
        self.assertIsInstance(context.crypto, crypto.XmlSecBindings)
        self.assertIs(saml2.entity.security_context(config), context)
