"""Hostile input found by a review and a fuzzing run: unreadable encodings, values too long for
their columns, an IdP's (or an attacker's) words shown as ours, logout by anyone, and a SAML
session key planted before the login."""

import base64
from urllib.parse import unquote, urlsplit

from django.contrib.auth import get_user_model
from lxml import etree

from saml_idps.models import LoginAttempt

from .attacks import assertion_of, encode
from .fixtures import SITE, acs_url, sp_entity_id
from .test_attacks import AttackTestCase


class UnreadableEncodingTests(AttackTestCase):
    def test_an_encoding_the_parser_cannot_read_is_a_400_with_an_audit_record(self):
        body = etree.tostring(self.genuine()).decode()
        for encoding in ["UTF-7", "Shift_JIS", "EUC-JP", "x-unknown"]:
            with self.subTest(encoding=encoding):
                declared = f'<?xml version="1.0" encoding="{encoding}"?>{body}'
                saml_response = base64.b64encode(declared.encode()).decode()
                self.assertAttackRefused(saml_response, "bad_encoding")


class ValueTooLongTests(AttackTestCase):
    """Signed by the IdP, yet too long for the column it would be kept in: refused (or, for an
    email, left out) before the database would fail the whole transaction."""

    def test_a_name_id_longer_than_its_column_is_refused(self):
        long_name_id = "a" * 510 + "@example.com"
        saml_response = self.idp_a.response(
            acs_url("idp-a"), sp_entity_id("idp-a"), name_id=long_name_id
        )
        self.assertAttackRefused(saml_response, "value_too_long", reason="NameID is 522")

    def test_an_assertion_id_longer_than_its_column_is_refused(self):
        root = self.genuine()
        assertion_of(root).set("ID", "_" + "a" * 300)
        self.assertAttackRefused(self.resigned(root), "value_too_long", reason="assertion ID")

    def test_an_email_longer_than_its_column_is_left_out_and_the_login_succeeds(self):
        email = "b" * 64 + "@" + ".".join(["c" * 60] * 4) + ".com"  # valid, 313 characters
        attributes = {"FirstName": ["Bob"], "Email": [email]}
        user = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a", attributes=attributes))
        self.assertEqual((user.first_name, user.email), ("Bob", ""))


class StatusMessageTests(AttackTestCase):
    """An error Response needs no signature, so its StatusMessage is anyone's words."""

    FORGED = "Login through IdP idp-a succeeded for admin\n<b>Call +1 555 0100 now</b>"

    def error_response(self):
        request = self.idp_a.received_request(self.start_login("idp-a"))
        return self.idp_a.error_response(acs_url("idp-a"), request.id, message=self.FORGED)

    def test_the_page_says_the_idp_refused_and_quotes_its_message_as_unverified(self):
        response = self.post_response("idp-a", self.error_response())
        self.assertContains(
            response, "did not sign you in: it answered with an error status.", status_code=403
        )
        self.assertContains(response, "not verified by this site", status_code=403)
        self.assertContains(
            response, "Login through IdP idp-a succeeded for admin\\n&lt;b&gt;", status_code=403
        )
        self.assertNotContains(response, "<b>Call", status_code=403)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_the_message_cannot_start_a_log_line(self):
        with self.assertLogs("saml_idps", level="WARNING") as logs:
            self.post_response("idp-a", self.error_response())
        for record in logs.records:
            self.assertNotIn("\n", record.getMessage())
        self.assertIn("succeeded for admin\\n", "".join(logs.output))

    def test_the_audit_record_labels_the_message_as_the_idps(self):
        self.post_response("idp-a", self.error_response())
        attempt = LoginAttempt.objects.latest("pk")
        our_words, quoted = attempt.detail.split("\n")
        self.assertNotIn("succeeded", our_words)
        self.assertTrue(quoted.startswith("The identity provider's own message (unverified):"))


class LogoutResponseTests(AttackTestCase):
    def setUp(self):
        super().setUp()
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))

    def forged_logout_response(self, request_id="id-never-sent"):
        url = self.idp_a.logout_response_to(
            request_id, f"{SITE}/saml/idp-a/sls/", sp_entity_id("idp-a")
        )
        parts = urlsplit(url)
        return f"{parts.path}?{parts.query}"

    def test_a_logout_response_answering_no_request_of_this_browser_keeps_the_session(self):
        # An <img src=...> on any page is enough to send it.
        response = self.client.get(self.forged_logout_response())
        self.assertContains(
            response, "answers no sign-out started in this browser", status_code=400
        )
        self.assertContains(response, "<code>unexpected_logout_response</code>", status_code=400)
        self.assertIn("_auth_user_id", self.client.session)

    def test_posted_cross_site_it_keeps_the_session_too(self):
        path, query = self.forged_logout_response().split("?")
        saml_response = dict(part.split("=", 1) for part in query.split("&"))["SAMLResponse"]
        response = self.client.post(path, {"SAMLResponse": unquote(saml_response)})
        self.assertEqual(response.status_code, 400)
        self.assertIn("_auth_user_id", self.client.session)


class SamlSessionCookieTests(AttackTestCase):
    def test_the_saml_session_gets_a_new_key_at_login(self):
        location = self.start_login("idp-a")
        planted = self.client.cookies["saml_session"].value
        saml_response, relay_state = self.idp_a.answer(location)
        self.assertSignedIn(self.post_response("idp-a", saml_response, relay_state))
        self.assertNotEqual(self.client.cookies["saml_session"].value, planted)


class NoStatusMessageTests(AttackTestCase):
    def test_a_cancelled_login_without_a_message_quotes_nothing(self):
        request = self.idp_a.received_request(self.start_login("idp-a"))
        response = self.post_response(
            "idp-a", self.idp_a.error_response(acs_url("idp-a"), request.id, message=None)
        )
        self.assertNotContains(response, "not verified by this site", status_code=403)
        self.assertFalse(get_user_model().objects.exists())


class ReviewFindingsTests(AttackTestCase):
    """Hostile input a review of the change found."""

    def test_a_name_id_that_grows_past_its_column_once_normalised_is_refused(self):
        # 306 characters as sent; an email-like NameID is stored casefolded, each "ß" as "ss":
        # 606, past the 512 column.
        saml_response = self.idp_a.response(
            acs_url("idp-a"), sp_entity_id("idp-a"), name_id="ß" * 300 + "@x.com"
        )
        self.assertAttackRefused(saml_response, "value_too_long", reason="NameID is 606")

    def test_the_algorithm_a_response_names_is_not_shown_as_our_words(self):
        root = self.genuine()
        for method in root.iter("{http://www.w3.org/2000/09/xmldsig#}SignatureMethod"):
            method.set("Algorithm", "Call +1 555 0100 to unlock your account")
        self.assertAttackRefused(
            encode(root), "weak_algorithm", detail="Call +1 555 0100 to unlock your account"
        )
        page = self.post_response("idp-a", encode(root))
        self.assertNotContains(page, "Call +1 555", status_code=400)
