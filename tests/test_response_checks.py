"""Single checks of a response at their edges, called directly: the instants where a response
stops being accepted, how long its replay record lives, where a RelayState may lead, which
signature algorithms are named, which StatusMessage is quoted, and values exactly at their size
limits. The ACS suites (test_login, test_attacks) show the same checks in place."""

import base64
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from xml.etree import ElementTree

import time_machine
from django.test import RequestFactory, SimpleTestCase, override_settings
from saml2.saml import Assertion, Conditions, Subject, SubjectConfirmation, SubjectConfirmationData

from saml_idps import replay, response_checks
from saml_idps.conf import app_setting
from saml_idps.models import IdentityLink
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


DS = "http://www.w3.org/2000/09/xmldsig#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def signed_info(signature_method, digest_method=SHA256):
    """A Response whose one signature names these algorithms (None: no Algorithm attribute)."""
    root = ElementTree.Element("Response")
    info = ElementTree.SubElement(
        ElementTree.SubElement(root, f"{{{DS}}}Signature"), f"{{{DS}}}SignedInfo"
    )
    for parent, name, algorithm in [
        (info, "SignatureMethod", signature_method),
        (ElementTree.SubElement(info, f"{{{DS}}}Reference"), "DigestMethod", digest_method),
    ]:
        element = ElementTree.SubElement(parent, f"{{{DS}}}{name}")
        if algorithm is not None:
            element.set("Algorithm", algorithm)
    return root


class AlgorithmTests(SimpleTestCase):
    identity_provider = SimpleNamespace(name="IdP A", allow_sha1=False)

    def assertRefusedNaming(self, detail, root):
        with self.assertRaises(LoginRefused) as refused:
            response_checks.check_algorithms(root, self.identity_provider)
        self.assertEqual(
            (refused.exception.code, refused.exception.detail), ("weak_algorithm", detail)
        )

    def test_sha256_signatures_are_accepted(self):
        response_checks.check_algorithms(signed_info(RSA_SHA256), self.identity_provider)

    def test_a_signature_method_without_algorithm_is_refused_as_none(self):
        self.assertRefusedNaming("algorithm: (none)", signed_info(None))

    def test_a_digest_method_without_algorithm_is_refused_as_none(self):
        self.assertRefusedNaming("algorithm: (none)", signed_info(RSA_SHA256, digest_method=None))


def posted(document):
    """A SAMLResponse as a browser posts it: base64, wrapped over lines."""
    encoded = base64.b64encode(document.encode()).decode()
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def with_status_message(message):
    return (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><samlp:Status>'
        f"{message}</samlp:Status></samlp:Response>"
    )


class StatusMessageTests(SimpleTestCase):
    """The IdP's StatusMessage is quoted as its own words; nothing else is."""

    def test_the_status_message_of_a_wrapped_response_is_quoted(self):
        document = with_status_message("<samlp:StatusMessage>No such user</samlp:StatusMessage>")
        self.assertEqual(response_checks.status_message(posted(document)), "No such user")

    def test_an_empty_status_message_quotes_nothing(self):
        document = with_status_message("<samlp:StatusMessage/>")
        self.assertEqual(response_checks.status_message(posted(document)), "")

    def test_a_response_with_a_document_type_quotes_nothing(self):
        document = "<!DOCTYPE samlp:Response>" + with_status_message(
            "<samlp:StatusMessage>Call +1 555 0100</samlp:StatusMessage>"
        )
        self.assertEqual(response_checks.status_message(posted(document)), "")

    def test_an_unreadable_response_quotes_nothing(self):
        self.assertEqual(response_checks.status_message(posted("<samlp:Response")), "")


class SizeLimitTests(SimpleTestCase):
    """A value exactly as large as its limit is accepted; one more is refused."""

    def refusal(self, check, *args):
        try:
            check(*args)
        except LoginRefused as refused:
            return refused.code
        return None

    def test_a_response_as_large_as_the_limit_passes_the_size_check(self):
        saml_response = posted(with_status_message(""))
        identity_provider = SimpleNamespace(name="IdP A", allow_sha1=False)
        for limit, expected in [(len(saml_response), False), (len(saml_response) - 1, True)]:
            with override_settings(SAML_IDPS_MAX_RESPONSE_BYTES=limit):
                code = self.refusal(
                    response_checks.check_raw_response, saml_response, identity_provider
                )
            self.assertEqual(code == "too_large", expected, code)

    def test_a_name_id_as_long_as_its_column_fits(self):
        limit = IdentityLink._meta.get_field("name_id").max_length
        for value, code in [("n" * limit, None), ("n" * (limit + 1), "value_too_long")]:
            self.assertEqual(
                self.refusal(response_checks.check_fits, value, IdentityLink, "name_id", "NameID"),
                code,
            )
