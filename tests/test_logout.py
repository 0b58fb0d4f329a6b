"""Signing out: only by POST with a CSRF token, and through the IdP when it offers SLO."""

from django.contrib.auth import get_user_model
from django.test import Client

from .fixtures import SITE, SamlTestCase, acs_url, register, shared_idp, sp_entity_id, sp_metadata


class LogoutTests(SamlTestCase):
    def test_get_shows_a_sign_out_button_and_keeps_the_session(self):
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        page = self.client.get("/logout/")
        self.assertContains(page, '<button type="submit" class="button">Sign out</button>')
        self.assertIn("_auth_user_id", self.client.session)

    def test_the_sign_out_page_names_the_idp_it_also_signs_out_of(self):
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        self.assertContains(self.client.get("/logout/"), "Sign out of this site and IDP-A?")

    def test_the_sign_out_page_of_a_local_user_names_no_idp(self):
        self.client.force_login(get_user_model().objects.create_user("bob"))
        self.assertContains(self.client.get("/logout/"), "Sign out of this site?")

    def test_post_without_csrf_token_is_refused(self):
        client = Client(enforce_csrf_checks=True)
        client.force_login(get_user_model().objects.create_user("bob"))
        response = client.post("/logout/")
        self.assertContains(response, "CSRF verification failed", status_code=403)
        self.assertIn("_auth_user_id", client.session)

    def test_post_with_csrf_token_signs_out_a_local_user(self):
        client = Client(enforce_csrf_checks=True)
        client.force_login(get_user_model().objects.create_user("bob"))
        page = client.get("/logout/")
        token = page.context["csrf_token"]
        response = client.post("/logout/", {"csrfmiddlewaretoken": str(token)})
        self.assertRedirects(response, "/", fetch_redirect_response=False)
        self.assertNotIn("_auth_user_id", client.session)

    def test_saml_user_is_signed_out_here_and_sent_to_the_idps_logout(self):
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        response = self.client.post("/logout/")
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("https://idp-a.example.com/slo/redirect?"))
        self.assertNotIn("_auth_user_id", self.client.session)

        back = self.idp_a.answer_logout(response["Location"])
        finished = self.client.get(back.removeprefix("http://testserver"))
        self.assertRedirects(finished, "/", fetch_redirect_response=False)
        self.assertContains(self.client.get("/"), "You are signed out.")


class LogoutWithoutSingleLogoutTests(SamlTestCase):
    """Okta's default and Google Workspace: no SingleLogoutService in the IdP's metadata."""

    def setUp(self):
        super().setUp()
        self.google = shared_idp("google", single_logout=False)
        register(self.google, "google")
        self.google.trust(sp_metadata("google"))
        saml_response = self.google.response(acs_url("google"), sp_entity_id("google"))
        self.assertSignedIn(self.post_response("google", saml_response))

    def test_sign_out_ends_the_session_here_and_lands_on_the_home_page(self):
        with self.assertNoLogs("djangosaml2", level="WARNING"):
            response = self.client.post("/logout/")
        self.assertRedirects(response, "/", fetch_redirect_response=False)
        self.assertNotIn("_auth_user_id", self.client.session)
        home = self.client.get("/")
        self.assertContains(home, "You are signed out.")
        self.assertContains(home, "Sign in with GOOGLE")

    def test_the_sign_out_page_does_not_offer_to_sign_out_of_the_idp(self):
        self.assertContains(self.client.get("/logout/"), "Sign out of this site?")


class IdpInitiatedLogoutTests(SamlTestCase):
    def setUp(self):
        super().setUp()
        self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))

    def post_logout_request(self, idp, **kwargs):
        saml_request = idp.logout_request(
            f"{SITE}/saml/idp-a/sls/", sp_entity_id("idp-a"), **kwargs
        )
        return self.client.post("/saml/idp-a/sls/", {"SAMLRequest": saml_request})

    def test_a_signed_logout_request_from_the_idp_ends_the_session(self):
        response = self.post_logout_request(self.idp_a)
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("https://idp-a.example.com/slo/redirect?"))
        self.assertIn("SAMLResponse=", response["Location"])
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_an_unsigned_logout_request_is_refused_and_the_session_kept(self):
        response = self.post_logout_request(self.idp_a, sign=False)
        self.assertContains(response, "not correctly signed", status_code=403)
        self.assertIn("_auth_user_id", self.client.session)

    def test_a_signed_logout_request_addressed_to_another_site_is_refused(self):
        saml_request = self.idp_a.logout_request(
            "https://other-sp.example.com/saml/sls/", sp_entity_id("idp-a")
        )
        response = self.client.post("/saml/idp-a/sls/", {"SAMLRequest": saml_request})
        self.assertContains(response, "<code>logout_request_not_signed</code>", status_code=403)
        self.assertIn("_auth_user_id", self.client.session)

    def test_a_logout_request_signed_by_another_idp_is_refused(self):
        response = self.post_logout_request(self.idp_b)
        self.assertContains(response, "<code>logout_request_not_signed</code>", status_code=403)
        self.assertContains(response, "not correctly signed", status_code=403)
        self.assertIn("_auth_user_id", self.client.session)

    def get_logout_request_url(self, url):
        """The SLS as the browser reaches it when the IdP redirects it there."""
        return self.client.get(url.removeprefix(SITE))

    def test_a_logout_request_signed_in_the_redirect_query_ends_the_session(self):
        url = self.idp_a.logout_request_url(
            f"{SITE}/saml/idp-a/sls/", sp_entity_id("idp-a"), relay_state="/after"
        )
        response = self.get_logout_request_url(url)
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("https://idp-a.example.com/slo/redirect?"))
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_a_redirect_logout_request_whose_signed_relay_state_was_changed_is_refused(self):
        url = self.idp_a.logout_request_url(
            f"{SITE}/saml/idp-a/sls/", sp_entity_id("idp-a"), relay_state="/after"
        )
        response = self.get_logout_request_url(
            url.replace("RelayState=%2Fafter", "RelayState=%2Fx")
        )
        self.assertContains(response, "<code>logout_request_not_signed</code>", status_code=403)
        self.assertIn("_auth_user_id", self.client.session)

    def test_a_redirect_logout_request_without_a_query_signature_is_refused(self):
        url = self.idp_a.logout_request_url(
            f"{SITE}/saml/idp-a/sls/", sp_entity_id("idp-a"), relay_state="/after", sign=False
        )
        response = self.get_logout_request_url(url)
        self.assertContains(response, "<code>logout_request_not_signed</code>", status_code=403)
        self.assertIn("_auth_user_id", self.client.session)


class LogoutBadInputTests(SamlTestCase):
    def test_an_unreadable_logout_response_is_a_clear_400(self):
        for send in (self.client.get, self.client.post):
            with self.subTest(method=send.__name__):
                response = send("/saml/idp-a/sls/", {"SAMLResponse": "garbage"})
                self.assertContains(
                    response, "<code>invalid_logout_message</code>", status_code=400
                )
                self.assertContains(response, "could not be read", status_code=400)

    def test_an_unreadable_logout_request_is_refused(self):
        response = self.client.get("/saml/idp-a/sls/", {"SAMLRequest": "!!"})
        self.assertContains(response, "not correctly signed", status_code=403)

    def test_neither_request_nor_response_is_a_400(self):
        self.assertEqual(self.client.post("/saml/idp-a/sls/", {}).status_code, 400)
