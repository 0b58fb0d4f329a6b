"""The home page's discovery ("Sign in with your work email", search) and the login audit log."""

import base64
import io
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import TestCase, override_settings
from django.utils import timezone

from saml_idps.models import ConsumedAssertion, EmailDomain, IdentityProvider, LoginAttempt

from .fixtures import SamlTestCase, acs_url, sp_entity_id


class DiscoveryTests(SamlTestCase):
    def setUp(self):
        super().setUp()
        EmailDomain.objects.create(identity_provider=self.row_b, domain="acme.com")

    def test_a_work_email_starts_the_login_of_the_idp_owning_its_domain(self):
        response = self.client.get("/", {"email": " Alice@ACME.com "})
        self.assertRedirects(response, "/saml/idp-b/login/", fetch_redirect_response=False)

    def test_an_unknown_domain_gets_a_clear_message(self):
        response = self.client.get("/", {"email": "alice@unknown.example"})
        self.assertContains(
            response,
            "No identity provider here signs in people with an address at\n"
            "       <strong>unknown.example</strong>",
        )
        self.assertContains(response, "alice@unknown.example")

    def test_an_invalid_email_or_search_gets_a_message_not_an_error(self):
        for params, message in [
            ({"email": "not-an-email"}, "Enter a valid email address."),
            ({"email": "pat\x00@acme.com"}, "Null characters are not allowed."),
            ({"q": "acme\x00"}, "Null characters are not allowed."),
            ({"q": "x" * 500}, "Ensure this value has at most 200 characters"),
        ]:
            with self.subTest(params=params):
                self.assertContains(self.client.get("/", params), message)

    def test_the_domain_of_a_disabled_idp_is_not_offered(self):
        self.row_b.enabled = False
        self.row_b.save()
        self.assertContains(
            self.client.get("/", {"email": "alice@acme.com"}), "No identity provider here"
        )

    def test_few_idps_are_all_listed_without_a_search(self):
        page = self.client.get("/")
        self.assertContains(page, "Sign in with IDP-A")
        self.assertContains(page, "Sign in with IDP-B")
        self.assertNotContains(page, 'name="q"')


@override_settings(SAML_IDPS_HOME_LIST_LIMIT=20)
class ManyIdpsHomePageTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        IdentityProvider.objects.bulk_create(
            IdentityProvider(slug=f"org-{n}", name=f"Organisation {n:05}", entity_id=f"urn:{n}")
            for n in range(10_000)
        )
        EmailDomain.objects.create(
            identity_provider=IdentityProvider.objects.get(slug="org-7777"), domain="org7777.com"
        )

    def test_the_home_page_lists_a_page_of_idps_and_offers_search(self):
        with self.assertNumQueries(1):
            page = self.client.get("/")
        self.assertEqual(page.content.count(b"Sign in with Organisation"), 20)
        self.assertContains(page, 'name="q"')
        self.assertContains(page, "More organisations match")

    def test_search_finds_an_idp_by_name(self):
        page = self.client.get("/", {"q": "Organisation 04242"})
        self.assertEqual(page.content.count(b"Sign in with Organisation"), 1)
        self.assertContains(page, 'href="/saml/org-4242/login/"')

    def test_email_discovery_finds_one_idp_among_ten_thousand(self):
        with self.assertNumQueries(1):
            response = self.client.get("/", {"email": "pat@org7777.com"})
        self.assertRedirects(response, "/saml/org-7777/login/", fetch_redirect_response=False)


class AuditLogTests(SamlTestCase):
    def test_a_success_is_recorded_with_who_what_and_where_from(self):
        user = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        attempt = LoginAttempt.objects.get()
        self.assertEqual(
            (attempt.outcome, attempt.reason, attempt.identity_provider, attempt.user),
            ("success", "", self.row_a, user),
        )
        self.assertEqual(attempt.name_id, "alice@example.com")
        self.assertTrue(attempt.assertion_id)
        self.assertEqual(attempt.client_ip, "127.0.0.1")

    def test_each_failure_is_recorded_with_its_reason_code(self):
        genuine = self.idp_a.response(acs_url("idp-a"), sp_entity_id("idp-a"))
        tampered = base64.b64encode(
            base64.b64decode(genuine).replace(b">Alice<", b">Mallory<")
        ).decode()
        self.post_response("idp-a", tampered)
        self.post_response("idp-a", genuine)
        self.post_response("idp-a", genuine, client=self.client_class())  # a replay
        self.post_response("idp-a", "garbage")
        self.idp_initiated(self.idp_b, "idp-a")  # IdP B's response at IdP A's ACS
        reasons = list(LoginAttempt.objects.order_by("pk").values_list("outcome", "reason"))
        self.assertEqual(
            reasons,
            [
                ("failure", "signature_invalid"),
                ("success", ""),
                ("failure", "replay"),
                ("failure", "not_base64"),
                ("failure", "signature_invalid"),
            ],
        )

    def test_the_audit_log_is_read_only_in_the_admin_with_filters(self):
        self.idp_initiated(self.idp_a, "idp-a", client=self.client_class())
        admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)
        page = self.client.get("/admin/saml_idps/loginattempt/")
        self.assertContains(page, "alice@example.com")
        for filter_title in ["By outcome", "By identity provider", "By created at"]:
            self.assertContains(page, filter_title)
        self.assertEqual(self.client.get("/admin/saml_idps/loginattempt/add/").status_code, 403)
        attempt = LoginAttempt.objects.get()
        change = self.client.get(f"/admin/saml_idps/loginattempt/{attempt.pk}/change/")
        self.assertNotContains(change, 'name="_save"')
        self.assertEqual(
            self.client.get(f"/admin/saml_idps/loginattempt/{attempt.pk}/delete/").status_code, 403
        )

    @override_settings(SAML_IDPS_AUDIT_RETENTION_DAYS=30)
    def test_prune_deletes_attempts_older_than_the_retention(self):
        old, recent = (
            LoginAttempt.objects.create(identity_provider=self.row_a, outcome="failure")
            for _ in range(2)
        )
        LoginAttempt.objects.filter(pk=old.pk).update(
            created_at=timezone.now() - timedelta(days=31)
        )
        output = io.StringIO()
        call_command("prune_saml_audit_log", stdout=output)
        self.assertIn(
            "Deleted 1 login attempt(s) and SCIM event(s) older than 30 days.", output.getvalue()
        )
        self.assertEqual(list(LoginAttempt.objects.all()), [recent])

    def test_prune_deletes_the_replay_records_of_expired_assertions_only(self):
        now = timezone.now()
        for assertion_id, expires_at in (
            ("expired", now - timedelta(seconds=1)),
            ("live", now + timedelta(minutes=5)),
        ):
            ConsumedAssertion.objects.create(
                issuer=self.row_a.entity_id, assertion_id=assertion_id, expires_at=expires_at
            )
        output = io.StringIO()
        call_command("prune_saml_audit_log", stdout=output)
        self.assertIn("Deleted 1 replay record(s) of expired assertions.", output.getvalue())
        self.assertEqual(
            list(ConsumedAssertion.objects.values_list("assertion_id", flat=True)), ["live"]
        )
