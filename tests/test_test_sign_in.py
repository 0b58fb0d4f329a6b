"""Test sign-in: an admin tries an IdP (even disabled) and reads what the IdP sent and what would
happen; nobody is signed in and no user changes, and a test's answer never signs anyone in."""

import base64
import re
import threading
import time
import zlib
from io import StringIO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, TransactionTestCase, override_settings
from django.utils import timezone
from saml2.samlp import authn_request_from_string

from saml_idps import test_sign_in
from saml_idps.models import (
    ConsumedAssertion,
    EmailDomain,
    GroupMapping,
    IdentityLink,
    IdentityProvider,
    LoginAttempt,
    TestSignIn,
)

from .fixtures import SamlTestCase, acs_url, register, shared_idp, sp_entity_id, sp_metadata
from .idp import redirect_message

User = get_user_model()


class TestSignInTestCase(SamlTestCase):
    """IdP A disabled, and an admin allowed to change IdPs."""

    def setUp(self):
        super().setUp()
        self.row_a.enabled = False
        self.row_a.save()
        self.admin = self.staff("admin", "view_identityprovider", "change_identityprovider")
        self.client.force_login(self.admin)
        self.start_url = f"/admin/saml_idps/identityprovider/{self.row_a.pk}/test-sign-in/"

    def staff(self, username, *codenames):
        user = User.objects.create_user(username, is_staff=True)
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        return user

    def request_sent(self):
        """Press Test sign-in: the AuthnRequest's redirect URL."""
        started = self.client.post(self.start_url)
        self.assertEqual(started.status_code, 302, started.content[:500])
        sent = self.client.get(started["Location"])
        self.assertEqual(sent.status_code, 302, sent.content[:500])
        return sent["Location"]

    def answer_test(self, **kwargs):
        """The IdP's answer to a test, posted from this browser: the ACS's response."""
        saml_response, relay_state = self.idp_a.answer(self.request_sent(), **kwargs)
        return self.post_response("idp-a", saml_response, relay_state)

    def report(self, **kwargs):
        answered = self.answer_test(**kwargs)
        self.assertEqual(answered.status_code, 302, answered.content[:1000])
        page = self.client.get(answered["Location"])
        self.assertEqual(page.status_code, 200)
        return page


class VerdictTests(TestSignInTestCase):
    def test_a_disabled_idp_reports_the_user_it_would_create_and_creates_nothing(self):
        page = self.report()
        self.assertContains(page, "would create user alice@example.com")
        self.assertEqual(list(User.objects.values_list("username", flat=True)), ["admin"])
        self.assertFalse(IdentityLink.objects.exists())
        self.assertEqual(str(self.admin.pk), self.client.session["_auth_user_id"])

    def test_the_idp_is_asked_to_authenticate_afresh(self):
        self.assertTrue(self.idp_a.received_request(self.request_sent()).force_authn)

    def test_a_linked_user_would_be_signed_in(self):
        alice = User.objects.create_user("alice")
        IdentityLink.objects.create(
            identity_provider=self.row_a, name_id="alice@example.com", user=alice
        )
        self.assertContains(self.report(), "would sign in as alice (linked)")

    def test_an_unprivileged_account_with_the_email_would_be_linked(self):
        User.objects.create_user("alice", "alice@example.com")
        EmailDomain.objects.create(identity_provider=self.row_a, domain="example.com")
        self.assertContains(self.report(), "would link existing account alice")
        self.assertFalse(IdentityLink.objects.exists())

    def test_a_refusal_names_its_reason_and_the_setting_to_change(self):
        EmailDomain.objects.create(identity_provider=self.row_a, domain="example.org")
        page = self.report()
        self.assertContains(page, "would refuse: email_domain_not_allowed")
        self.assertContains(page, "#email_domains-group")

    def test_the_attributes_and_what_they_map_to_are_shown(self):
        engineering = Group.objects.create(name="engineering")
        GroupMapping.objects.create(
            identity_provider=self.row_a, value="Engineering", group=engineering
        )
        page = self.report(
            attributes={"Email": ["alice@example.com"], "groups": ["Engineering", "Everyone"]}
        )
        self.assertContains(page, "<code>Email</code>")
        self.assertContains(page, "group mapping Engineering -&gt; engineering")
        self.assertContains(page, "<label>Would grant</label> engineering")
        self.assertFalse(Group.objects.get().user_set.exists())

    def test_the_presets_that_fit_and_the_certificate_that_verified_are_shown(self):
        page = self.report()
        self.assertContains(
            page, "<label>Okta</label> would fill email, first_name, last_name, and read groups"
        )
        self.assertContains(page, "<label>Verified by</label> CN=idp-a")

    def test_every_value_from_the_idp_is_shown_as_text(self):
        page = self.report(attributes={"Email": ["<script>alert(1)</script>"]})
        self.assertNotContains(page, "<script>alert(1)</script>")
        self.assertContains(page, "&lt;script&gt;alert(1)&lt;/script&gt;")

    def test_the_test_is_in_the_audit_log_with_its_admin(self):
        self.report()
        attempt = LoginAttempt.objects.get()
        self.assertEqual(attempt.outcome, LoginAttempt.Outcome.TEST)
        self.assertIn("Test sign-in by admin: would create user", attempt.detail)
        self.assertIsNone(attempt.user)

    def test_the_report_is_shown_once(self):
        answered = self.answer_test()
        self.assertEqual(self.client.get(answered["Location"]).status_code, 200)
        self.assertEqual(self.client.get(answered["Location"]).status_code, 404)

    def test_enable_turns_the_idp_on(self):
        self.client.post(f"/admin/saml_idps/identityprovider/{self.row_a.pk}/enable/")
        self.row_a.refresh_from_db()
        self.assertTrue(self.row_a.enabled)


class NoSignInTests(TestSignInTestCase):
    def test_a_test_answer_posted_again_signs_nobody_in(self):
        saml_response, relay_state = self.idp_a.answer(self.request_sent())
        self.post_response("idp-a", saml_response, relay_state)
        self.assertEqual(ConsumedAssertion.objects.count(), 1)  # its replay is recorded
        self.row_a.enabled = True  # as after a good test
        self.row_a.save()
        self.client.logout()
        again = self.post_response("idp-a", saml_response, relay_state)
        self.assertRefused(again, "test_response")

    def test_a_test_answer_posted_from_another_browser_is_refused(self):
        saml_response, relay_state = self.idp_a.answer(self.request_sent())
        self.row_a.enabled = True
        self.row_a.save()
        other = Client()
        refused = self.post_response("idp-a", saml_response, relay_state, client=other)
        self.assertContains(refused, "<code>test_response</code>", status_code=403)
        self.assertNotIn("_auth_user_id", other.session)

    def test_a_login_answer_never_shows_a_report(self):
        self.row_a.enabled = True
        self.row_a.save()
        browser = Client()
        login = browser.get("/saml/idp-a/login/")
        saml_response, relay_state = self.idp_a.answer(login["Location"])
        landed = self.post_response("idp-a", saml_response, relay_state, client=browser)
        self.assertEqual(landed["Location"], "/user/")

    def test_a_test_answer_stripped_of_its_response_in_response_to_signs_nobody_in(self):
        # Signed in the assertion only, whose SubjectConfirmationData still names the test.
        self.row_a.enabled = self.row_a.allow_idp_initiated = True
        self.row_a.save()
        saml_response, relay_state = self.idp_a.answer(self.request_sent(), sign_response=False)
        xml = base64.b64decode(saml_response).decode()
        stripped = re.sub(
            r'(<(?:\w+:)?Response\b[^>]*?)\sInResponseTo="[^"]*"', r"\1", xml, count=1
        )
        self.assertNotEqual(stripped, xml)
        browser = Client()
        answered = self.post_response(
            "idp-a", base64.b64encode(stripped.encode()).decode(), relay_state, client=browser
        )
        self.assertContains(answered, "<code>test_response</code>", status_code=403)
        self.assertNotIn("_auth_user_id", browser.session)
        self.assertFalse(User.objects.filter(email="alice@example.com").exists())

    def test_a_test_url_sends_one_request_only(self):
        started = self.client.post(self.start_url)
        self.assertEqual(self.client.get(started["Location"]).status_code, 302)
        again = self.client.get(started["Location"])
        self.assertContains(again, "<code>idp_disabled</code>", status_code=404)

    def test_an_answer_after_the_window_is_not_a_test_report(self):
        saml_response, relay_state = self.idp_a.answer(self.request_sent())
        TestSignIn.objects.update(created_at=timezone.now() - test_sign_in.WINDOW)
        self.row_a.enabled = True
        self.row_a.save()
        answered = self.post_response("idp-a", saml_response, relay_state)
        self.assertContains(answered, "<code>test_response</code>", status_code=403)

    def test_a_disabled_idp_signs_nobody_in_while_a_test_waits(self):
        self.request_sent()
        self.client.logout()
        self.assertRefused(self.idp_initiated(self.idp_a, "idp-a"), "idp_disabled")


class PermissionTests(TestSignInTestCase):
    def assertForbidden(self, user):
        report_url = self.answer_test()["Location"]
        self.client.force_login(user)
        self.assertEqual(self.client.post(self.start_url).status_code, 403)
        self.assertEqual(self.client.get(report_url).status_code, 403)

    def test_view_only_staff_may_neither_start_a_test_nor_read_a_report(self):
        self.assertForbidden(self.staff("viewer", "view_identityprovider"))

    def test_a_user_who_is_not_staff_may_neither_start_a_test_nor_read_a_report(self):
        self.assertForbidden(User.objects.create_user("mallory"))

    def test_another_admin_cannot_read_the_report(self):
        report_url = self.answer_test()["Location"]
        self.client.force_login(
            self.staff("other", "view_identityprovider", "change_identityprovider")
        )
        self.assertEqual(self.client.get(report_url).status_code, 404)

    def test_a_login_url_naming_someone_elses_test_is_refused_for_a_disabled_idp(self):
        started = self.client.post(self.start_url)
        Client().get("/")
        refused = Client().get(started["Location"])
        self.assertContains(refused, "<code>idp_disabled</code>", status_code=404)


def run_test_command(wait, output):
    """`manage.py saml_idps test idp-a`, waiting ``wait`` seconds, printing into ``output``."""
    call_command(
        "saml_idps", "test", "idp-a", "--base-url", "http://testserver", "--wait", str(wait),
        stdout=output, stderr=StringIO(),
    )  # fmt: skip


class CommandLineTests(TestSignInTestCase):
    def started(self):
        """`saml_idps test` with no time to wait: the URL it printed, and its error."""
        output = StringIO()
        with self.assertRaises(CommandError) as timed_out:
            run_test_command(0, output)
        return output.getvalue().splitlines()[1].strip(), str(timed_out.exception)

    def test_the_url_it_prints_tests_the_idp_and_the_report_is_read_by_its_id(self):
        url, error = self.started()
        browser = Client()
        sent = browser.get(url.removeprefix("http://testserver"))
        saml_response, relay_state = self.idp_a.answer(sent["Location"])
        answered = self.post_response("idp-a", saml_response, relay_state, client=browser)
        self.assertContains(answered, "the report is")
        self.assertNotIn("_auth_user_id", browser.session)
        test_id = error.rpartition(" ")[2]
        output = StringIO()
        call_command("saml_idps", "test-report", test_id, stdout=output)
        self.assertIn("would create user alice@example.com", output.getvalue())
        self.assertIn("  Email: alice@example.com -> email", output.getvalue())

    def test_its_url_sends_one_request_only(self):
        url, _ = self.started()
        Client().get(url.removeprefix("http://testserver"))
        refused = Client().get(url.removeprefix("http://testserver"))
        self.assertContains(refused, "<code>idp_disabled</code>", status_code=404)

    def test_an_unknown_idp_is_an_error_and_starts_no_test(self):
        with self.assertRaisesMessage(CommandError, "No identity provider nope"):
            call_command("saml_idps", "test", "nope", "--base-url", "http://testserver")
        self.assertFalse(TestSignIn.objects.exists())

    @override_settings(SAML_IDPS_BASE_URL="")
    def test_without_the_sites_address_it_says_what_to_give_and_starts_no_test(self):
        with self.assertRaisesMessage(CommandError, "Give --base-url"):
            call_command("saml_idps", "test", "idp-a")
        self.assertFalse(TestSignIn.objects.exists())

    def test_an_unknown_report_is_an_error(self):
        with self.assertRaisesMessage(CommandError, "No report of a command-line test"):
            call_command("saml_idps", "test-report", "not-a-test")


class CommandLineWaitTests(TransactionTestCase):
    def test_it_waits_for_the_answer_and_prints_the_report(self):
        idp = shared_idp("idp-a")
        row = register(idp, "idp-a")
        idp.trust(sp_metadata("idp-a"))
        row.enabled = False
        row.save()
        output = StringIO()

        def run():
            try:
                run_test_command(60, output)
            finally:
                connection.close()

        command = threading.Thread(target=run)
        command.start()
        while "?test=" not in output.getvalue():
            time.sleep(0.05)
        browser = Client()
        url = output.getvalue().splitlines()[1].strip().removeprefix("http://testserver")
        saml_response, relay_state = idp.answer(browser.get(url)["Location"])
        browser.post("/saml/idp-a/acs/", {"SAMLResponse": saml_response, "RelayState": relay_state})
        command.join(60)
        self.assertIn("would create user alice@example.com", output.getvalue())


class RefusedAnswerTests(TestSignInTestCase):
    def test_an_answer_whose_signature_does_not_verify_is_reported_as_refused(self):
        impostor = shared_idp("idp-b")
        message = self.idp_a.received_request(self.request_sent())
        forged = impostor.response(
            message.assertion_consumer_service_url, message.issuer.text, in_response_to=message.id
        )
        answered = self.post_response("idp-a", forged)
        page = self.client.get(answered["Location"])
        self.assertContains(page, "would refuse: signature_invalid")
        self.assertContains(page, "before its content could be trusted")
        self.assertEqual(LoginAttempt.objects.get().outcome, LoginAttempt.Outcome.TEST)


class IdentityProviderSetupTests(TestSignInTestCase):
    """Tests of IdPs set up otherwise: unsigned AuthnRequests, an app moved here."""

    def test_an_idp_taking_unsigned_requests_is_tested_too(self):
        self.row_a.sign_authn_requests = False
        self.row_a.save()
        location = self.request_sent()
        self.assertNotIn("Signature=", location)
        request = authn_request_from_string(
            zlib.decompress(base64.b64decode(redirect_message(location)[0]), -15).decode()
        )
        self.assertEqual(request.force_authn, "true")
        saml_response = self.idp_a.response(
            acs_url("idp-a"), sp_entity_id("idp-a"), in_response_to=request.id
        )
        answered = self.post_response("idp-a", saml_response)
        self.assertContains(self.client.get(answered["Location"]), "would create user")

    def test_an_app_moved_here_is_tested_at_the_urls_the_idp_knows(self):
        moved = "http://testserver/saml/sso/idp-a"
        self.row_a.sp_entity_id = self.row_a.acs_url = moved
        self.row_a.save()
        IdentityProvider.objects.filter(pk=self.row_a.pk).update(enabled=True)
        self.idp_a.trust(sp_metadata("idp-a"))  # what the IdP knows of the moved app
        IdentityProvider.objects.filter(pk=self.row_a.pk).update(enabled=False)
        request = self.idp_a.received_request(self.request_sent())
        self.assertEqual(
            (request.issuer.text, request.assertion_consumer_service_url), (moved, moved)
        )
        saml_response = self.idp_a.response(moved, moved, in_response_to=request.id)
        answered = self.client.post("/saml/sso/idp-a", {"SAMLResponse": saml_response})
        self.assertContains(self.client.get(answered["Location"]), "would create user")
