"""Single checks of a response at their edges, called directly: the instants where a response
stops being accepted, how long its replay record lives, and where a RelayState may lead. The
ACS suites (test_login, test_attacks) show the same checks in place."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import time_machine
from django.test import RequestFactory, SimpleTestCase
from saml2.saml import Assertion, Conditions, Subject, SubjectConfirmation, SubjectConfirmationData

from saml_idps import replay, response_checks
from saml_idps.conf import app_setting
from saml_idps.refusals import LoginRefused

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
SKEW = 180


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@time_machine.travel(NOW, tick=False)
class IssueInstantTests(SimpleTestCase):
    def check(self, issue_instant):
        message = SimpleNamespace(issue_instant=issue_instant)
        response_checks.check_timing(
            SimpleNamespace(response=message, assertions=[]), SimpleNamespace(clock_skew=SKEW)
        )

    def assertRefusedAs(self, code, issue_instant):
        with self.assertRaises(LoginRefused) as refused:
            self.check(issue_instant)
        self.assertEqual(refused.exception.code, code)

    def test_issued_as_far_ahead_as_the_clock_skew_is_accepted(self):
        self.check(iso(NOW + timedelta(seconds=SKEW)))
        self.assertRefusedAs("issued_in_future", iso(NOW + timedelta(seconds=SKEW + 1)))

    def test_issued_as_long_ago_as_the_message_age_and_the_skew_is_accepted(self):
        oldest = NOW - timedelta(seconds=app_setting("MAX_MESSAGE_AGE") + SKEW)
        self.check(iso(oldest))
        self.assertRefusedAs("issued_too_long_ago", iso(oldest - timedelta(seconds=1)))

    def test_an_issue_instant_that_is_no_date_is_refused(self):
        self.assertRefusedAs("bad_issue_instant", "yesterday")


def assertion(confirmed_until=None, conditions_until=None):
    confirmation = SubjectConfirmation(
        subject_confirmation_data=SubjectConfirmationData(not_on_or_after=confirmed_until)
    )
    return Assertion(
        subject=Subject(subject_confirmation=[confirmation]),
        conditions=Conditions(not_on_or_after=conditions_until),
    )


@time_machine.travel(NOW, tick=False)
class ReplayRecordLifetimeTests(SimpleTestCase):
    def test_it_lives_until_the_latest_not_on_or_after_and_the_skew(self):
        early, late = NOW + timedelta(minutes=5), NOW + timedelta(minutes=10)
        for confirmed, conditions in ((early, late), (late, early)):
            with self.subTest(confirmed=confirmed, conditions=conditions):
                self.assertEqual(
                    replay.replay_expiry(assertion(iso(confirmed), iso(conditions)), SKEW),
                    late + timedelta(seconds=SKEW),
                )

    def test_without_a_not_on_or_after_it_lives_the_replay_window(self):
        self.assertEqual(
            replay.replay_expiry(assertion(), SKEW),
            NOW + timedelta(seconds=app_setting("REPLAY_WINDOW")),
        )


class RelayStateTests(SimpleTestCase):
    def check(self, relay_state, secure=False):
        request = RequestFactory().post(
            "/saml/idp-a/acs/", {"RelayState": relay_state}, secure=secure
        )
        response_checks.check_relay_state(request)

    def test_an_address_on_this_site_is_followed(self):
        self.check("/user/")
        self.check("http://testserver/user/")

    def test_another_site_is_refused(self):
        with self.assertRaises(LoginRefused) as refused:
            self.check("https://evil.example/")
        self.assertEqual(refused.exception.code, "unsafe_relay_state")

    def test_over_https_a_plain_http_address_is_refused(self):
        self.check("https://testserver/user/", secure=True)
        with self.assertRaises(LoginRefused) as refused:
            self.check("http://testserver/user/", secure=True)
        self.assertEqual(refused.exception.code, "unsafe_relay_state")
