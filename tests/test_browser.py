"""Every flow in a real browser: Chromium, the live site, and the demo IdP."""

from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from saml_idps.models import EmailDomain, IdentityProvider, LoginAttempt, MetadataChange

from .browser import BrowserTestCase
from .test_realworld import accept_negative_serial_numbers, register_real_metadata


class BrowserFlowTests(BrowserTestCase):
    def sign_in_as(self, person, through="Demo IdP"):
        self.open("/")
        self.page.get_by_role("link", name=f"Sign in with {through}").click()
        self.page.get_by_role("button", name=person).click()
        self.page.wait_for_url(f"{self.live_server_url}/user/")

    def test_sp_initiated_login_from_the_home_page_lands_on_the_user_page(self):
        self.sign_in_as("Alice Anderson")
        expect(self.page.locator("h1")).to_have_text("Authenticated user")
        expect(self.page.locator(".facts")).to_contain_text("alice@example.com")
        expect(self.page.locator(".facts")).to_contain_text("Demo IdP")
        expect(self.page.locator("table.attributes")).to_contain_text("Everyone, Engineering")

    def test_saml_cookie_is_samesite_none_and_secure_and_kept_over_http_127_0_0_1(self):
        self.open("/saml/demo/login/")
        cookie = next(c for c in self.context.cookies() if c["name"] == "saml_session")
        self.assertEqual((cookie["sameSite"], cookie["secure"]), ("None", True))

    def test_idp_initiated_login_from_the_demo_idps_page(self):
        self.open("/demo-idp/demo/")
        self.page.get_by_label("Sign in as").select_option("bob")
        host = self.live_server_url.removeprefix("http://")
        self.page.get_by_role("button", name=f"Open {host} · Demo IdP", exact=True).click()
        self.page.wait_for_url(f"{self.live_server_url}/user/")
        expect(self.page.locator(".facts")).to_contain_text("bob@example.com")

    def test_sign_out_ends_the_session_here_and_at_the_idp(self):
        self.sign_in_as("Alice Anderson")
        # The browser goes through the demo IdP's single logout, which answers with a
        # LogoutResponse our SLS accepts, and only then lands on the home page.
        with (
            self.page.expect_response("**/demo-idp/demo/slo/?SAMLRequest=*") as at_the_idp,
            self.page.expect_response("**/saml/demo/sls/?SAMLResponse=*") as back_here,
        ):
            self.page.get_by_role("button", name="Sign out").click()
        self.assertEqual(at_the_idp.value.status, 302)
        self.assertEqual(back_here.value.status, 302)
        self.page.wait_for_url(f"{self.live_server_url}/")
        expect(self.page.locator(".messages")).to_have_text("You are signed out.")
        expect(self.page.get_by_role("heading", name="Sign in")).to_be_visible()
        self.open("/user/")
        self.page.wait_for_url(f"{self.live_server_url}/?next=/user/")

    def test_sign_out_through_an_idp_without_single_logout_lands_on_the_home_page(self):
        self.register_demo_tenant("noslo", "Without SLO")
        self.sign_in_as("Alice Anderson", through="Without SLO")
        with self.page.expect_response(f"{self.live_server_url}/") as landing:
            self.page.get_by_role("button", name="Sign out").click()
        self.assertEqual(landing.value.status, 200)
        expect(self.page.locator(".messages")).to_have_text("You are signed out.")
        expect(self.page.get_by_role("heading", name="Sign in")).to_be_visible()

    def test_cancelled_login_at_the_idp_shows_a_clear_page(self):
        self.open("/saml/demo/login/")
        self.page.get_by_role("button", name="Cancel").click()
        expect(self.page.locator("h1")).to_have_text("Sign-in refused")
        expect(self.page.locator(".reason")).to_contain_text(
            "cancelled or denied at IdP 'Demo IdP'"
        )

    def test_admin_registers_a_second_idp_by_metadata_url_then_signs_in_through_it(self):
        self.sign_in_to_the_admin()
        self.open("/admin/saml_idps/identityprovider/add/")
        self.page.locator("input[name=slug]").fill("acme")
        self.page.locator("input[name=name]").fill("Acme")
        self.page.locator("input[name=metadata_url]").fill(
            f"{self.live_server_url}/demo-idp/acme/metadata/"
        )
        self.page.locator("input[name=_save]").click()
        expect(self.page.locator(".messagelist")).to_contain_text("was added successfully")

        self.page.get_by_role("button", name="Log out").click()
        self.sign_in_as("Carol Chen", through="Acme")
        expect(self.page.locator(".facts")).to_contain_text("Acme")
        self.assertTrue(
            get_user_model()
            .objects.filter(saml_identities__identity_provider__slug="acme")
            .exists()
        )
        expect(self.page.locator(".facts")).to_contain_text("carol@example.org")


class TestSignInBrowserTests(BrowserTestCase):
    """An admin tries a disabled IdP before enabling it."""

    def setUp(self):
        super().setUp()
        self.row = self.register_demo_tenant("trial", "Trial")
        IdentityProvider.objects.filter(pk=self.row.pk).update(enabled=False)
        self.sign_in_to_the_admin()

    def try_sign_in(self, person):
        self.open(f"/admin/saml_idps/identityprovider/{self.row.pk}/change/")
        self.page.get_by_role("button", name="Test sign-in").click()
        self.page.get_by_role("button", name=person).click()
        self.page.wait_for_url("**/test-report/**")

    def test_a_report_says_who_would_be_created_and_enable_then_signs_in(self):
        self.try_sign_in("Alice Anderson")
        expect(self.page.locator("#verdict")).to_have_text("would create user alice@example.com")
        expect(self.page.locator("#attributes")).to_contain_text("first_name")
        expect(self.page.locator("#attributes")).to_contain_text("Engineering")
        self.assertFalse(get_user_model().objects.filter(email="alice@example.com").exists())

        self.page.get_by_role("button", name="Enable this IdP").click()
        expect(self.page.locator(".messagelist")).to_contain_text("Trial is enabled")
        self.context.clear_cookies()
        self.open("/")
        self.page.get_by_role("link", name="Sign in with Trial").click()
        self.page.get_by_role("button", name="Alice Anderson").click()
        self.page.wait_for_url(f"{self.live_server_url}/user/")
        expect(self.page.locator(".facts")).to_contain_text("alice@example.com")

    def test_a_refusal_is_reported_with_the_setting_to_change(self):
        EmailDomain.objects.create(identity_provider=self.row, domain="example.org")
        self.try_sign_in("Alice Anderson")
        expect(self.page.locator("#verdict")).to_contain_text(
            "would refuse: email_domain_not_allowed"
        )
        self.page.get_by_role("link", name="email domains").click()
        self.page.wait_for_url(f"**/identityprovider/{self.row.pk}/change/#email_domains-group")
        self.assertEqual(
            list(get_user_model().objects.values_list("username", flat=True)), ["admin"]
        )


class AdminLayoutTests(BrowserTestCase):
    """The admin pages an operator lives in fit a 1280 x 800 screen: nothing runs off the side."""

    viewport = {"width": 1280, "height": 800}

    def setUp(self):
        super().setUp()
        accept_negative_serial_numbers(self)
        self.sign_in_to_the_admin()
        # Real metadata with long values: Entra ID's, two certificates, a long entity ID.
        self.row = register_real_metadata("entra-id-tenant-ruby-saml-pr.xml", "entra")
        user = get_user_model().objects.create_user("a" * 150)
        for _ in range(3):
            LoginAttempt.objects.create(
                identity_provider=self.row,
                outcome=LoginAttempt.Outcome.FAILURE,
                reason="signature_invalid",
                name_id="x" * 200 + "@example.com",
                user=user,
                client_ip="2001:db8:85a3:1234:5678:8a2e:370:7334",
                assertion_id="_" + "f" * 120,
            )
        MetadataChange.objects.create(
            identity_provider=self.row,
            source="https://login.microsoftonline.com/" + "0" * 40 + "/federationmetadata/2007-06/"
            "federationmetadata.xml?appid=" + "1" * 40,
            summary="Signing certificate added: " + "CN=" + "y" * 150,
        )

    def assertFitsTheWidth(self, path):
        """Neither the page nor a table in it (the admin scrolls result lists in a box of
        their own, hiding their last columns) is wider than the window."""
        self.open(path)
        overflow = self.page.evaluate(
            """() => Math.max(
                document.documentElement.scrollWidth - document.documentElement.clientWidth,
                ...[...document.querySelectorAll('.results, .tabular, fieldset')].map(
                    (box) => box.scrollWidth - box.clientWidth))"""
        )
        self.assertLessEqual(overflow, 0, f"{path} is {overflow} px too wide at 1280 px")

    def test_the_identity_provider_list_fits(self):
        self.assertFitsTheWidth("/admin/saml_idps/identityprovider/")

    def test_the_identity_provider_change_page_fits(self):
        self.assertFitsTheWidth(f"/admin/saml_idps/identityprovider/{self.row.pk}/change/")

    def test_the_login_attempt_list_fits(self):
        self.assertFitsTheWidth("/admin/saml_idps/loginattempt/")

    def test_help_texts_show_their_placeholders(self):
        self.open("/admin/saml_idps/identityprovider/add/")
        expect(self.page.locator("#id_slug_helptext")).to_contain_text("/saml/SLUG/login/")
        expect(self.page.locator("#id_metadata_url_helptext")).to_contain_text(
            "https://ORG.okta.com/app/APP-ID/sso/saml/metadata"
        )
