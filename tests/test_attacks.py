"""Known SAML attacks, each built from a genuine signed response of the test IdP: every one is
refused with a 4xx page naming the reason, an audit log entry, and no session or user."""

import base64
import copy
import zlib
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs, urlsplit

from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone
from lxml import etree
from saml2.xmldsig import DIGEST_MD5, DIGEST_SHA1, SIG_RSA_MD5, SIG_RSA_SHA1

from saml_idps import response_checks
from saml_idps.models import LoginAttempt

from .attacks import all_of, assertion_of, encode, first, signed, tree
from .fixtures import SamlTestCase, acs_url, refusal_status, sp_entity_id
from .idp import TestIdentityProvider

SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"


def instant(delta):
    return (timezone.now() + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


class AttackTestCase(SamlTestCase):
    def genuine(self, **kwargs):
        """A genuine response of IdP A, unsolicited, to IdP A's ACS, as an lxml tree."""
        return tree(self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a"), **kwargs))

    def resigned(self, root, **kwargs):
        """``root`` signed by IdP A as it stands: an IdP that really issued odd content."""
        return signed(self.idp_a, root, **kwargs)

    def assertAttackRefused(self, saml_response, code, relay_state="", reason="", detail=""):
        """Refused with ``code``'s status on a page naming ``code`` and saying ``reason``, an
        audit record of that code whose detail (for the admin, not the page) holds ``detail``,
        nobody signed in."""
        response = self.post_response("idp-a", saml_response, relay_state)
        self.assertEqual(response.status_code, refusal_status(code))
        self.assertContains(response, "Sign-in refused", status_code=response.status_code)
        self.assertContains(response, f"<code>{code}</code>", status_code=response.status_code)
        self.assertContains(response, reason, status_code=response.status_code)
        self.assertNotIn("_auth_user_id", self.client.session)
        self.assertFalse(get_user_model().objects.exists())
        attempt = LoginAttempt.objects.latest("pk")
        self.assertEqual((attempt.outcome, attempt.reason), ("failure", code))
        self.assertIn(detail, attempt.detail)


class MessageShapeTests(AttackTestCase):
    def test_two_signed_assertions_and_an_empty_encrypted_assertion(self):
        root = self.genuine(sign_response=False)
        root.append(assertion_of(self.genuine(sign_response=False, name_id="mallory")))
        etree.SubElement(root, f"{SAML}EncryptedAssertion")
        self.assertAttackRefused(encode(root), "assertion_count")

    def test_doctype(self):
        xml = base64.b64decode(encode(self.genuine())).decode()
        document = "<!DOCTYPE Response>" + xml.split("?>", 1)[-1]
        self.assertAttackRefused(base64.b64encode(document.encode()).decode(), "doctype")

    def test_xxe(self):
        xml = base64.b64decode(encode(self.genuine())).decode().split("?>", 1)[-1]
        document = '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + xml.replace(
            ">Alice<", ">&x;<"
        )
        self.assertAttackRefused(base64.b64encode(document.encode()).decode(), "doctype")

    def test_billion_laughs(self):
        entities = '<!ENTITY a "lol">' + "".join(
            f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(8)
        )
        xml = base64.b64decode(encode(self.genuine())).decode().split("?>", 1)[-1]
        document = f"<!DOCTYPE r [{entities}]>" + xml.replace(">Alice<", ">&i;<")
        self.assertAttackRefused(base64.b64encode(document.encode()).decode(), "doctype")

    def test_deflated_body(self):
        xml = base64.b64decode(encode(self.genuine()))
        compressor = zlib.compressobj(wbits=-15)
        deflated = compressor.compress(xml) + compressor.flush()
        self.assertAttackRefused(base64.b64encode(deflated).decode(), "deflated")

    @override_settings(SAML_IDPS_MAX_RESPONSE_BYTES=4096)
    def test_oversized_response(self):
        self.assertAttackRefused(encode(self.genuine()), "too_large")

    def test_non_base64_input(self):
        self.assertAttackRefused("PHNhbWxwOlJlc3BvbnNl!!!", "not_base64")

    def test_not_well_formed_xml(self):
        self.assertAttackRefused(base64.b64encode(b"<samlp:Response").decode(), "malformed")

    def test_authn_request_posted_to_the_acs(self):
        location = self.start_login("idp-a", client=self.client_class())
        saml_request = parse_qs(urlsplit(location).query)["SAMLRequest"][0]
        authn_request = zlib.decompress(base64.b64decode(saml_request), -15)
        self.assertAttackRefused(base64.b64encode(authn_request).decode(), "not_a_response")

    def test_logout_response_posted_to_the_acs(self):
        logout_response = (
            '<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            'ID="x" Version="2.0" IssueInstant="2026-01-01T00:00:00Z"><samlp:Status>'
            '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
            "</samlp:Status></samlp:LogoutResponse>"
        )
        self.assertAttackRefused(
            base64.b64encode(logout_response.encode()).decode(), "not_a_response"
        )


class SignatureTests(AttackTestCase):
    def test_signature_value_tampered(self):
        root = self.genuine()
        value = first(root, "ds:Signature/ds:SignatureValue")
        value.text = base64.b64encode(b"\0" * 256).decode()
        self.assertAttackRefused(encode(root), "signature_invalid")

    def test_content_tampered_after_signing(self):
        root = self.genuine()
        first(root, "//saml:NameID").text = "admin@example.com"
        self.assertAttackRefused(encode(root), "signature_invalid")

    def test_key_from_key_info_is_not_trusted(self):
        attacker = TestIdentityProvider("attacker", entity_id=self.idp_a.entity_id)
        for sp in self.idp_a.trusted:
            attacker.trust(sp)
        saml_response = attacker.response(acs_url("idp-a"), sp_entity_id("idp-a"))
        self.assertIn(
            attacker.certificate_pem.splitlines()[1][:20], base64.b64decode(saml_response).decode()
        )
        self.assertAttackRefused(saml_response, "signature_invalid")

    def test_hmac_signature_method(self):
        root = self.genuine()
        for method in all_of(root, "//ds:SignatureMethod"):
            method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
        self.assertAttackRefused(encode(root), "weak_algorithm")

    def test_rsa_md5_signature_method(self):
        self.row_a.allow_sha1 = True  # MD5 stays refused even where SHA-1 is allowed
        self.row_a.save()
        root = self.genuine()
        first(root, "ds:Signature/ds:SignedInfo/ds:SignatureMethod").set("Algorithm", SIG_RSA_MD5)
        self.assertAttackRefused(encode(root), "weak_algorithm")

    def test_md5_digest_method(self):
        root = self.genuine()
        first(root, "//saml:Assertion//ds:DigestMethod").set("Algorithm", DIGEST_MD5)
        self.assertAttackRefused(encode(root), "weak_algorithm")

    def test_rsa_sha1_is_refused_by_default(self):
        root = self.genuine(sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1)
        self.assertAttackRefused(encode(root), "weak_algorithm")

    def test_rsa_sha1_is_accepted_where_an_admin_allowed_it(self):
        self.row_a.allow_sha1 = True
        self.row_a.save()
        root = self.genuine(sign_alg=SIG_RSA_SHA1, digest_alg=DIGEST_SHA1)
        self.assertSignedIn(self.post_response("idp-a", encode(root)))

    def test_sha256_is_still_accepted_where_an_admin_allowed_sha1(self):
        self.row_a.allow_sha1 = True
        self.row_a.save()
        self.assertSignedIn(self.post_response("idp-a", encode(self.genuine())))

    def test_rsa_sha1_inside_an_encrypted_assertion_is_refused(self):
        saml_response = self.idp_a.response(
            acs_url("idp-a"),
            sp_entity_id("idp-a"),
            sign_response=False,
            sign_alg=SIG_RSA_SHA1,
            digest_alg=DIGEST_SHA1,
            encrypt=True,
        )
        self.assertNotIn(b"rsa-sha1", base64.b64decode(saml_response))  # hidden until decrypted
        self.assertAttackRefused(saml_response, "weak_algorithm")

    def test_an_empty_name_id_names_no_one(self):
        root = self.genuine()
        first(root, "//saml:NameID").text = ""
        self.assertAttackRefused(self.resigned(root), "no_name_id")

    def test_unsigned_response_issuer_of_another_idp(self):
        root = self.genuine(sign_response=False)  # only the assertion is signed
        first(root, "saml:Issuer").text = self.idp_b.entity_id
        # Refused by the ACS before any user is looked up (the backend would refuse it too).
        self.assertAttackRefused(encode(root), "issuer_mismatch", reason="expected issuer")


class SchemaTests(AttackTestCase):
    """Signed by the IdP, but not what the SAML schemas allow: refused before any signature is
    trusted (pysaml2 checks each signed element against the schemas first)."""

    def test_an_element_the_assertion_schema_does_not_know(self):
        root = self.genuine()
        first(root, "//saml:Subject").addnext(etree.Element(f"{SAML}Role"))
        self.assertAttackRefused(self.resigned(root), "schema_invalid")

    def test_an_attribute_value_where_the_schema_wants_a_date(self):
        root = self.genuine()
        assertion_of(root).set("IssueInstant", "yesterday")
        self.assertAttackRefused(self.resigned(root), "schema_invalid")


class XmlSignatureWrappingTests(AttackTestCase):
    """XSW1-XSW8 as SAML Raider builds them (Somorovsky et al., 2012)."""

    def evil_assertion(self, original):
        evil = copy.deepcopy(original)
        evil.set("ID", "id-evil")
        first(evil, ".//saml:NameID").text = "admin@example.com"
        for signature in all_of(evil, "ds:Signature"):
            evil.remove(signature)
        return evil

    def test_xsw1_signed_response_cloned_into_the_signature(self):
        original = self.genuine(sign_assertion=False)
        evil = copy.deepcopy(original)
        evil.set("ID", "id-evil")
        first(evil, ".//saml:NameID").text = "admin@example.com"
        signature = first(evil, "ds:Signature")
        signature.append(copy.deepcopy(original))
        self.assertAttackRefused(encode(evil), "assertion_count")

    def test_xsw2_signed_response_detached_before_the_signature(self):
        original = self.genuine(sign_assertion=False)
        evil = copy.deepcopy(original)
        evil.set("ID", "id-evil")
        first(evil, ".//saml:NameID").text = "admin@example.com"
        first(evil, "ds:Signature").addprevious(copy.deepcopy(original))
        self.assertAttackRefused(encode(evil), "assertion_count")

    def test_xsw3_evil_assertion_before_the_signed_one(self):
        root = self.genuine(sign_response=False)
        original = assertion_of(root)
        original.addprevious(self.evil_assertion(original))
        self.assertAttackRefused(encode(root), "assertion_count")

    def test_xsw4_signed_assertion_inside_the_evil_one(self):
        root = self.genuine(sign_response=False)
        original = assertion_of(root)
        evil = self.evil_assertion(original)
        original.addprevious(evil)
        evil.append(original)
        self.assertAttackRefused(encode(root), "assertion_count")

    def test_xsw5_signature_moved_to_the_evil_assertion(self):
        root = self.genuine(sign_response=False)
        original = assertion_of(root)
        evil = self.evil_assertion(original)
        first(evil, "saml:Issuer").addnext(first(original, "ds:Signature"))
        original.addprevious(evil)
        root.append(original)
        self.assertAttackRefused(encode(root), "assertion_count")

    def test_xsw6_signed_assertion_inside_the_evil_ones_signature(self):
        root = self.genuine(sign_response=False)
        original = assertion_of(root)
        evil = self.evil_assertion(original)
        signature = copy.deepcopy(first(original, "ds:Signature"))
        first(evil, "saml:Issuer").addnext(signature)
        original.addprevious(evil)
        signature.append(original)
        self.assertAttackRefused(encode(root), "assertion_count")

    def test_xsw7_signed_assertion_in_extensions(self):
        root = self.genuine(sign_response=False)
        original = assertion_of(root)
        extensions = etree.Element(f"{SAMLP}Extensions")
        original.addprevious(self.evil_assertion(original))
        first(root, "saml:Issuer").addnext(extensions)
        extensions.append(original)
        self.assertAttackRefused(encode(root), "assertion_count")

    def test_xsw8_signed_assertion_in_an_object_of_the_evil_signature(self):
        root = self.genuine(sign_response=False)
        original = assertion_of(root)
        evil = self.evil_assertion(original)
        signature = copy.deepcopy(first(original, "ds:Signature"))
        first(evil, "saml:Issuer").addnext(signature)
        holder = etree.SubElement(signature, f"{DS}Object")
        original.addprevious(evil)
        for old_signature in all_of(original, "ds:Signature"):
            original.remove(old_signature)
        holder.append(original)
        self.assertAttackRefused(encode(root), "assertion_count")


class XmlSignatureWrappingBehindTheCountTests(XmlSignatureWrappingTests):
    """XSW1-XSW8 again with the raw assertion count check removed: the signature checks behind
    it (pysaml2's ID pinning, the in-process backend's constraints) refuse every one too, so
    the count is a cheap first stop, not the only one."""

    def assertAttackRefused(self, saml_response, code, relay_state="", reason=""):
        with mock.patch.object(response_checks, "check_assertion_count"):
            response = self.post_response("idp-a", saml_response, relay_state)
        self.assertGreaterEqual(response.status_code, 400)
        self.assertLess(response.status_code, 500)
        self.assertNotIn("_auth_user_id", self.client.session)
        self.assertFalse(get_user_model().objects.exists())
        self.assertNotEqual(LoginAttempt.objects.latest("pk").reason, "assertion_count")


class ConditionsTests(AttackTestCase):
    """Responses the IdP really signed, with content that must still be refused."""

    def set_times(self, root, issued, not_before, not_on_or_after):
        for element in [root, assertion_of(root)]:
            element.set("IssueInstant", instant(issued))
        first(root, "//saml:Conditions").set("NotBefore", instant(not_before))
        first(root, "//saml:Conditions").set("NotOnOrAfter", instant(not_on_or_after))
        first(root, "//saml:SubjectConfirmationData").set("NotOnOrAfter", instant(not_on_or_after))
        return root

    def test_expired_assertion(self):
        root = self.set_times(
            self.genuine(), timedelta(minutes=-20), timedelta(minutes=-20), timedelta(minutes=-10)
        )
        self.assertAttackRefused(self.resigned(root), "outside_validity")

    def test_not_yet_valid_assertion(self):
        root = self.set_times(
            self.genuine(), timedelta(0), timedelta(minutes=10), timedelta(minutes=20)
        )
        self.assertAttackRefused(self.resigned(root), "outside_validity")

    def test_issue_instant_beyond_the_clock_skew_in_the_future(self):
        root = self.set_times(
            self.genuine(), timedelta(minutes=5), timedelta(0), timedelta(minutes=20)
        )
        self.assertAttackRefused(self.resigned(root), "issued_in_future")

    def test_issue_instant_older_than_an_hour(self):
        root = self.set_times(
            self.genuine(), timedelta(hours=-2), timedelta(hours=-2), timedelta(minutes=5)
        )
        self.assertAttackRefused(self.resigned(root), "issued_too_long_ago")

    def test_wrong_audience(self):
        root = self.genuine()
        first(root, "//saml:Audience").text = sp_entity_id("idp-b")
        # pysaml2 refuses this one itself; the audit record keeps its reason.
        self.assertAttackRefused(
            self.resigned(root), "invalid_response", detail="AudienceRestrictions conditions"
        )

    def test_several_audience_restrictions_must_all_name_us(self):
        root = self.genuine()
        restriction = first(root, "//saml:AudienceRestriction")
        other = copy.deepcopy(restriction)
        first(other, "saml:Audience").text = "https://other-sp.example.com"
        restriction.addnext(other)
        self.assertAttackRefused(self.resigned(root), "wrong_audience")

    def test_missing_conditions(self):
        root = self.genuine()
        conditions = first(root, "//saml:Conditions")
        conditions.getparent().remove(conditions)
        self.assertAttackRefused(self.resigned(root), "wrong_audience")

    def test_missing_audience_restriction(self):
        root = self.genuine()
        restriction = first(root, "//saml:AudienceRestriction")
        restriction.getparent().remove(restriction)
        self.assertAttackRefused(self.resigned(root), "wrong_audience")

    def test_wrong_recipient(self):
        root = self.genuine()
        first(root, "//saml:SubjectConfirmationData").set("Recipient", acs_url("idp-b"))
        self.assertAttackRefused(self.resigned(root), "bad_subject_confirmation")

    def test_subject_confirmation_without_recipient(self):
        root = self.genuine()
        del first(root, "//saml:SubjectConfirmationData").attrib["Recipient"]
        # pysaml2 refuses this one itself; the audit record keeps its reason.
        self.assertAttackRefused(
            self.resigned(root), "invalid_response", detail="No valid recipient"
        )

    def test_subject_confirmation_without_not_on_or_after(self):
        root = self.genuine()
        del first(root, "//saml:SubjectConfirmationData").attrib["NotOnOrAfter"]
        self.assertAttackRefused(self.resigned(root), "bad_subject_confirmation")

    def test_a_subject_confirmation_that_is_not_bearer_does_not_count(self):
        # Holder-of-key needs a proof of the key that the browser profile never gives. pysaml2
        # refuses this one itself, before our check of bearer confirmations.
        root = self.genuine()
        first(root, "//saml:SubjectConfirmation").set(
            "Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
        )
        self.assertAttackRefused(self.resigned(root), "invalid_response")

    def test_wrong_destination(self):
        root = self.genuine()
        root.set("Destination", acs_url("idp-b"))
        self.assertAttackRefused(self.resigned(root), "wrong_destination")


class RelayStateTests(AttackTestCase):
    def test_open_redirects_in_relay_state(self):
        for relay_state in [
            "//evil.example/",
            "/\\evil.example/",
            "https:evil.example",
            "javascript:alert(1)",
        ]:
            with self.subTest(relay_state=relay_state):
                self.assertAttackRefused(
                    encode(self.genuine()), "unsafe_relay_state", relay_state=relay_state
                )
