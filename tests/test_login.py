"""Signing in through an IdP stored in the database, SP- and IdP-initiated, and what is refused."""

import base64
import re
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.test import Client
from saml2.saml import NAMEID_FORMAT_TRANSIENT
from saml2.samlp import STATUS_REQUEST_DENIED

from saml_idps import response_checks
from saml_idps.models import ConsumedAssertion, IdentityLink, LoginAttempt

from .fixtures import SITE, SamlTestCase, acs_url, sp_entity_id


class SpInitiatedLoginTests(SamlTestCase):
    def test_login_redirects_to_the_idps_single_sign_on_url(self):
        location = self.start_login("idp-a")
        self.assertTrue(location.startswith("https://idp-a.example.com/sso/redirect?SAMLRequest="))

    def test_signed_response_signs_in_and_lands_on_the_user_page(self):
        response = self.sign_in(self.idp_a, "idp-a")
        user = self.assertSignedIn(response)
        self.assertEqual(response["Location"], "/user/")
        self.assertEqual((user.first_name, user.last_name), ("Alice", "Anderson"))
        self.assertEqual(user.email, "alice@example.com")

    def test_user_page_shows_the_idp_and_the_assertions_attributes(self):
        self.sign_in(self.idp_a, "idp-a")
        page = self.client.get("/user/")
        self.assertContains(page, "Alice Anderson")
        self.assertContains(page, "alice@example.com")
        self.assertContains(page, "IDP-A")
        self.assertContains(page, "<code>groups</code>", html=False)
        self.assertContains(page, "Everyone, Engineering")

    def test_next_on_the_site_is_followed_after_login(self):
        response = self.sign_in(self.idp_a, "idp-a", query="?next=/admin/")
        self.assertSignedIn(response)
        self.assertEqual(response["Location"], "/admin/")

    def test_next_pointing_at_another_host_stays_on_the_site(self):
        for target in ["https://evil.example/", "//evil.example/", "/\\evil.example/"]:
            with self.subTest(target=target):
                self.client.logout()
                response = self.sign_in(self.idp_a, "idp-a", query=f"?next={target}")
                self.assertSignedIn(response)
                self.assertEqual(response["Location"], "/user/")

    def test_response_answering_a_request_sent_to_another_idp_is_refused(self):
        request = self.idp_a.received_request(self.start_login("idp-a"))
        saml_response = self.idp_b.response(
            acs_url("idp-b"), sp_entity_id("idp-b"), in_response_to=request.id
        )
        self.assertRefused(
            self.post_response("idp-b", saml_response), "unknown_request", "did not send to IDP-B"
        )

    def test_response_to_an_unknown_request_is_refused_even_with_idp_initiated_on(self):
        response = self.idp_initiated(self.idp_a, "idp-a", in_response_to="id-never-sent")
        self.assertRefused(response, "unknown_request", "did not send")


class IdpInitiatedLoginTests(SamlTestCase):
    def test_unsolicited_response_signs_in_when_the_idp_allows_it(self):
        response = self.idp_initiated(self.idp_a, "idp-a")
        self.assertSignedIn(response)
        self.assertEqual(response["Location"], "/user/")

    def test_the_acs_accepts_the_idps_cross_site_post_without_a_csrf_token(self):
        browser = Client(enforce_csrf_checks=True)
        response = self.idp_initiated(self.idp_a, "idp-a", client=browser)
        self.assertEqual(response.status_code, 302)
        self.assertIn("_auth_user_id", browser.session)

    def test_alias_url_from_the_okta_guide_is_an_acs(self):
        saml_response = self.idp_a.response(f"{SITE}/saml/sso/idp-a", sp_entity_id("idp-a"))
        response = self.client.post("/saml/sso/idp-a", {"SAMLResponse": saml_response})
        self.assertSignedIn(response)

    def test_unsolicited_response_is_refused_when_the_idp_forbids_it(self):
        self.row_a.allow_idp_initiated = False
        self.row_a.save()
        response = self.idp_initiated(self.idp_a, "idp-a")
        self.assertRefused(response, "unsolicited", "IdP-initiated sign-in is not allowed")
        self.assertFalse(get_user_model().objects.exists())

    def test_the_same_response_posted_twice_from_two_browsers_is_refused_the_second_time(self):
        saml_response = self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a"))
        first = self.client_class()
        second = self.client_class()
        self.assertEqual(self.post_response("idp-a", saml_response, client=first).status_code, 302)
        replay = self.post_response("idp-a", saml_response, client=second)
        self.assertContains(replay, "<code>replay</code>", status_code=403)
        self.assertContains(replay, "already used", status_code=403)
        self.assertEqual(LoginAttempt.objects.latest("pk").reason, "replay")
        self.assertNotIn("_auth_user_id", second.session)

    def test_the_replay_record_lives_as_long_as_the_assertion_could_be_accepted(self):
        self.row_a.clock_skew = 120
        self.row_a.save()
        saml_response = self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a"))
        self.assertSignedIn(self.post_response("idp-a", saml_response))
        document = base64.b64decode(saml_response).decode()
        limits = re.findall(r'NotOnOrAfter="([^"]+)"', document)
        latest = max(response_checks.instant(value) for value in limits)
        record = ConsumedAssertion.objects.get()
        self.assertEqual(record.expires_at, latest + timedelta(seconds=120))

    def test_the_replay_record_names_the_assertion_and_its_issuer(self):
        saml_response = self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a"))
        self.assertSignedIn(self.post_response("idp-a", saml_response))
        document = base64.b64decode(saml_response).decode()
        assertion_id = re.search(r'<(?:\w+:)?Assertion\b[^>]*\bID="([^"]+)"', document)[1]
        record = ConsumedAssertion.objects.get()
        self.assertEqual((record.assertion_id, record.issuer), (assertion_id, self.idp_a.entity_id))

    def test_two_sign_ins_in_a_row_from_one_browser_both_succeed(self):
        self.assertSignedIn(self.sign_in(self.idp_a, "idp-a"))
        self.client.post("/logout/")
        self.assertSignedIn(self.sign_in(self.idp_a, "idp-a"))

    def test_relay_state_on_the_site_is_followed(self):
        response = self.idp_initiated(self.idp_a, "idp-a", relay_state="/admin/")
        self.assertSignedIn(response)
        self.assertEqual(response["Location"], "/admin/")


class RefusedResponseTests(SamlTestCase):
    def assertNothingStored(self):
        self.assertFalse(get_user_model().objects.exists())
        self.assertFalse(IdentityLink.objects.exists())

    def test_tampered_response_is_refused(self):
        xml = base64.b64decode(self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a")))
        tampered = xml.replace(b">Alice<", b">Mallory<")
        self.assertNotEqual(xml, tampered)
        response = self.post_response("idp-a", base64.b64encode(tampered).decode())
        self.assertRefused(response, "signature_invalid", "signature could not be verified")
        self.assertNothingStored()

    def test_genuine_response_of_idp_b_posted_to_idp_as_acs_is_refused(self):
        saml_response = self.idp_b.response(acs_url("idp-a"), sp_entity_id("idp-a"))
        self.assertRefused(self.post_response("idp-a", saml_response), "signature_invalid")
        self.assertNothingStored()

    def test_unsigned_response_is_refused(self):
        saml_response = self.idp_a.response(
            acs_url("idp-a"), sp_entity_id("idp-a"), sign_response=False, sign_assertion=False
        )
        self.assertRefused(self.post_response("idp-a", saml_response), "signature_invalid")
        self.assertNothingStored()

    def test_response_signed_only_on_the_assertion_is_accepted(self):
        response = self.idp_initiated(self.idp_a, "idp-a", sign_response=False)
        self.assertSignedIn(response)

    def test_response_for_another_audience_is_refused(self):
        saml_response = self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-b"))
        self.assertRefused(
            self.post_response("idp-a", saml_response),
            "invalid_response",
            detail="AudienceRestrictions",
        )
        self.assertNothingStored()

    def test_garbage_instead_of_a_response_is_a_clear_4xx(self):
        for garbage in ["not base64 !!", base64.b64encode(b"<oops").decode(), ""]:
            with self.subTest(garbage=garbage):
                response = self.post_response("idp-a", garbage)
                self.assertGreaterEqual(response.status_code, 400)
                self.assertLess(response.status_code, 500)
        self.assertNothingStored()

    def test_missing_saml_response_is_a_400(self):
        self.assertRefused(self.client.post("/saml/idp-a/acs/", {}), "missing_response")

    def test_a_response_wrapped_over_lines_signs_in(self):
        # Some IdPs and proxies wrap base64 at 76 characters.
        saml_response = self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a"))
        wrapped = "\r\n".join(saml_response[i : i + 76] for i in range(0, len(saml_response), 76))
        self.assertSignedIn(self.post_response("idp-a", wrapped))

    def test_failure_status_from_the_idp_shows_a_clear_page(self):
        request = self.idp_a.received_request(self.start_login("idp-a"))
        saml_response = self.idp_a.error_response(acs_url("idp-a"), request.id)
        self.assertRefused(self.post_response("idp-a", saml_response), "idp_status", "IDP-A")

    def test_a_sign_in_the_user_cancelled_at_the_idp_says_so(self):
        request = self.idp_a.received_request(self.start_login("idp-a"))
        saml_response = self.idp_a.error_response(
            acs_url("idp-a"), request.id, status=STATUS_REQUEST_DENIED
        )
        self.assertRefused(self.post_response("idp-a", saml_response), "cancelled", "cancelled")

    def test_transient_name_id_is_refused_with_advice_for_the_admin(self):
        response = self.idp_initiated(
            self.idp_a, "idp-a", name_id="x7f3", name_id_format=NAMEID_FORMAT_TRANSIENT
        )
        self.assertRefused(response, "transient_name_id", "transient NameID")
        self.assertNothingStored()

    def test_an_assertion_refused_after_pysaml2_accepted_it_is_not_recorded_as_consumed(self):
        # Genuine and correctly signed, but addressed elsewhere: our check refuses it before
        # the replay record, which comes last, so the IdP's next genuine one is not blocked.
        saml_response = self.idp_a.response(f"{SITE}/elsewhere/", sp_entity_id("idp-a"))
        self.assertRefused(self.post_response("idp-a", saml_response), "wrong_destination")
        self.assertFalse(ConsumedAssertion.objects.exists())


class UnknownOrDisabledIdpTests(SamlTestCase):
    def test_unknown_slug_is_a_404_everywhere(self):
        for url in ["/saml/nope/login/", "/saml/nope/metadata/", "/saml/nope/sls/"]:
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)
        self.assertEqual(
            self.client.post("/saml/nope/acs/", {"SAMLResponse": "x"}).status_code, 404
        )
        self.assertEqual(self.client.post("/saml/sso/nope", {"SAMLResponse": "x"}).status_code, 404)

    def test_disabled_idp_is_a_404_and_its_responses_do_not_sign_in(self):
        saml_response = self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a"))
        self.row_a.enabled = False
        self.row_a.save()
        self.assertEqual(self.client.get("/saml/idp-a/login/").status_code, 404)
        self.assertEqual(self.client.get("/saml/idp-a/metadata/").status_code, 404)
        self.assertEqual(self.post_response("idp-a", saml_response).status_code, 404)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_home_page_lists_only_enabled_idps(self):
        self.row_b.enabled = False
        self.row_b.save()
        page = self.client.get("/")
        self.assertContains(page, "Sign in with IDP-A")
        self.assertNotContains(page, "Sign in with IDP-B")
        self.assertContains(page, 'href="/saml/idp-a/login/"')


class NotFoundPageTests(SamlTestCase):
    def test_unknown_idp_gets_a_plain_words_404_page(self):
        response = self.client.get("/saml/nope/login/")
        self.assertContains(response, "No identity provider by that name.", status_code=404)
        self.assertContains(response, "home page", status_code=404)
