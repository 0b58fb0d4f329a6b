"""Test sign-in: an admin tries an IdP end to end (also while it is disabled) and sees what the
IdP sent and what would happen, without anyone being signed in or any user changing.

The admin's change page starts a TestSignIn; the login view sends the IdP an AuthnRequest with
ForceAuthn, remembered in this browser's SAML session as a test request. The ACS runs every
check of a real login on the answer (the replay record included), then the identity policy
inside a savepoint that is rolled back, and keeps what it saw as the TestSignIn's report: shown
once, to the admin who asked, in the session that asked.
"""

import base64
import contextlib
import threading
import uuid
from calendar import timegm
from datetime import timedelta

from defusedxml.ElementTree import fromstring
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_save
from django.http import Http404
from django.utils import timezone
from saml2.time_util import str_to_time

from .models import GroupMapping, IdentityLink, TestSignIn
from .normalize import normalize_name_id
from .presets import PRESETS
from .refusals import LoginRefused, untrusted
from .sessions import SESSION_TEST_REQUESTS

# How long after the button an answer is taken as the test's.
WINDOW = timedelta(minutes=15)
# A test's AuthnRequest ID is this and the test's id: the ACS tells a test's answer from a
# login's by it, without a query.
REQUEST_ID_PREFIX = "id-test-"


# Where an admin changes what a refusal depends on: (the setting, its anchor on the change page).
SETTINGS_TO_CHANGE = {
    "email_domain_not_allowed": ("email domains", "email_domains-group"),
    "provisioning_disabled": ("create users on first login", "id_create_users"),
    "link_requires_admin": ("an identity link made by an admin", None),
    "transient_name_id": ("the NameID format at the IdP (persistent or email)", None),
    "issuer_mismatch": ("the IdP's metadata", "id_metadata_url"),
}


def may_test(user, identity_provider):
    return user.is_active and user.is_staff and user.has_perm("saml_idps.change_identityprovider")


def start(request, identity_provider):
    """A new test of ``identity_provider`` by the admin of ``request``, in its session."""
    if request.session.session_key is None:
        request.session.save()
    return TestSignIn.objects.create(
        identity_provider=identity_provider,
        requested_by=request.user,
        session_key=request.session.session_key,
    )


def start_from_command_line(identity_provider):
    """A new test whose URL (login_path) anyone may open once: the command prints the report."""
    return TestSignIn.objects.create(identity_provider=identity_provider)


def claimed(request, identity_provider, test_id):
    """The test of this IdP waiting for its AuthnRequest, now claimed for this request (a URL
    sends one AuthnRequest, even opened twice at once), or None: the admin's own, in its
    session; or one started from the command line, whose URL is its only key."""
    if not is_uuid(test_id):
        return None
    own = Q(requested_by=None)
    if may_test(request.user, identity_provider):
        own |= Q(requested_by=request.user, session_key=request.session.session_key or "")
    waiting = TestSignIn.objects.filter(
        own,
        pk=test_id,
        identity_provider=identity_provider,
        request_id="",
        created_at__gt=timezone.now() - WINDOW,
    )
    if not waiting.update(request_id=f"{REQUEST_ID_PREFIX}{uuid.UUID(test_id).hex}"):
        return None
    return TestSignIn.objects.get(pk=test_id)


def sent(test, saml_session):
    """Remember in the browser that ``test``'s AuthnRequest has been sent from it."""
    tests = saml_session.get(SESSION_TEST_REQUESTS, {})
    tests[test.request_id] = str(test.pk)
    saml_session[SESSION_TEST_REQUESTS] = tests


def pending_in(saml_session, identity_provider):
    """Whether this browser waits for the answer to a test of ``identity_provider``: its ACS
    then hears the IdP even while it is disabled."""
    tests = saml_session.get(SESSION_TEST_REQUESTS, {})
    return TestSignIn.objects.filter(
        pk__in=list(tests.values()),
        identity_provider=identity_provider,
        report__isnull=True,
        created_at__gt=timezone.now() - WINDOW,
    ).exists()


def answered(in_response_to, saml_session, identity_provider):
    """The test whose request ID ``in_response_to`` is. An answer to a test that is not this
    browser's open test of this IdP is refused: it signs nobody in."""
    test = TestSignIn.objects.filter(
        request_id=in_response_to, created_at__gt=timezone.now() - WINDOW
    ).first()
    tests = saml_session.get(SESSION_TEST_REQUESTS, {})
    if (
        test is None
        or tests.get(in_response_to) != str(test.pk)
        or test.identity_provider_id != identity_provider.pk
        or test.report is not None
    ):
        raise LoginRefused(
            "test_response",
            "This response answers an admin's test sign-in: it cannot sign anyone in.",
        )
    return test


def refused_answer(saml_response, saml_session, identity_provider):
    """The open test of this browser that a refused ``saml_response`` answers, or None: read
    from the message itself, which pysaml2 may not have accepted. Only for a message that
    passed the raw checks (response_checks.check_raw_response)."""
    tests = saml_session.get(SESSION_TEST_REQUESTS, {})
    if not tests:
        return None
    root = fromstring(base64.b64decode("".join(saml_response.split())), forbid_dtd=True)
    in_response_to = root.get("InResponseTo", "")
    if not in_response_to.startswith(REQUEST_ID_PREFIX) or in_response_to not in tests:
        return None
    return TestSignIn.objects.filter(
        pk=tests[in_response_to],
        request_id=in_response_to,
        identity_provider=identity_provider,
        report__isnull=True,
        created_at__gt=timezone.now() - WINDOW,
    ).first()


class ReportReady(Exception):  # noqa: N818 - not an error: the end of a test's answer
    """The answer to a test has been judged; ``response`` takes the browser on."""

    def __init__(self, response):
        super().__init__(response)
        self.response = response


class Rollback(Exception):  # noqa: N818
    """Undoes the writes of a test's judgement."""


@contextlib.contextmanager
def rolled_back_writes():
    """What the block writes, recorded and then undone: ``{"created": [model instances],
    "groups": {user pk: (added group pks, removed group pks)}}``."""
    writes = {"created": [], "groups": {}}

    # Receivers of this call and this thread only: other requests' writes are not the test's.
    thread, uid = threading.get_ident(), f"saml_idps.test_sign_in.{id(writes)}"

    def saved(sender, instance, created, **kwargs):
        if created and threading.get_ident() == thread:
            writes["created"].append(instance)

    def groups_changed(sender, instance, action, pk_set, **kwargs):
        if threading.get_ident() != thread:
            return
        added, removed = writes["groups"].setdefault(instance.pk, (set(), set()))
        if action == "post_add":
            added.update(pk_set)
        elif action == "post_remove":
            removed.update(pk_set)

    membership = get_user_model().groups.through
    post_save.connect(saved, weak=False, dispatch_uid=uid)
    m2m_changed.connect(groups_changed, sender=membership, weak=False, dispatch_uid=uid)
    try:
        with transaction.atomic():
            yield writes
            raise Rollback
    except Rollback:
        pass
    finally:
        post_save.disconnect(dispatch_uid=uid)
        m2m_changed.disconnect(sender=membership, dispatch_uid=uid)


def judge(identity_provider, session_info, authenticate):
    """The verdict of the identity policy on this answer, found by running ``authenticate``
    (the login's own) and undoing everything it wrote."""
    name_id = normalize_name_id(session_info["name_id"].text or "")
    linked = (
        IdentityLink.objects.filter(identity_provider=identity_provider, name_id=name_id)
        .select_related("user")
        .first()
    )
    with rolled_back_writes() as writes:
        try:
            user = authenticate()
        except LoginRefused as refusal:
            return refusal_verdict(refusal), {}
        username = user.get_username()
        groups = {
            "granted": group_names(writes["groups"].get(user.pk, (set(), set()))[0]),
            "taken_back": group_names(writes["groups"].get(user.pk, (set(), set()))[1]),
            "staff": user.is_staff,
            "superuser": user.is_superuser,
        }
    created = {type(instance) for instance in writes["created"]}
    if linked is not None:
        verdict = ("sign_in", f"would sign in as {username} (linked)")
    elif get_user_model() in created:
        verdict = ("create", f"would create user {username}")
    else:
        verdict = ("link", f"would link existing account {username}")
    return {"outcome": verdict[0], "sentence": verdict[1], "user": username}, groups


def refusal_verdict(refusal):
    setting, anchor = SETTINGS_TO_CHANGE.get(refusal.code, (None, None))
    sentence = f"would refuse: {refusal.code} — {refusal}"
    return {
        "outcome": "refuse",
        "sentence": sentence,
        "reason": refusal.code,
        "setting": setting,
        "anchor": anchor,
    }


def group_names(pks):
    return sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))


def report(identity_provider, response, verdict, groups, requested_by):
    """What the admin sees: the verdict, the subject, every attribute as sent with what it
    maps to, the groups, the signatures and the timing (of a response pysaml2 accepted). Every
    value from the IdP as text."""
    tested = {
        "identity_provider": identity_provider.slug,
        "tested_at": timezone.now().isoformat(),
        "tested_by": requested_by.get_username() if requested_by else "the command line",
        "verdict": verdict,
    }
    if response is None:
        return tested
    assertion = response.assertion
    mapping = identity_provider.attribute_mapping or {}
    group_values = {
        m.value.casefold(): m
        for m in GroupMapping.objects.filter(identity_provider=identity_provider).select_related(
            "group"
        )
    }
    attributes = []
    for statement in assertion.attribute_statement:
        for attribute in statement.attribute:
            values = [untrusted(value.text, limit=500) for value in attribute.attribute_value]
            names = {attribute.name, attribute.friendly_name} - {None}
            maps_to = sorted({field for name in names for field in mapping.get(name, [])})
            if identity_provider.groups_attribute in names:
                maps_to += [
                    f"group mapping {value} -> {describe_mapping(group_values[value.casefold()])}"
                    for value in values
                    if value.casefold() in group_values
                ]
            attributes.append(
                {
                    "name": untrusted(attribute.name, limit=500),
                    "name_format": attribute.name_format or "",
                    "friendly_name": untrusted(attribute.friendly_name or "", limit=200),
                    "values": values,
                    "maps_to": maps_to,
                }
            )
    sent = {
        name for attribute in attributes for name in (attribute["name"], attribute["friendly_name"])
    }
    now = timezone.now()
    conditions = assertion.conditions
    return tested | {
        "name_id": {
            "value": untrusted(response.name_id.text, limit=500),
            "format": response.name_id.format or "",
        },
        "attributes": attributes,
        "presets": presets_filling(sent),
        "groups": groups,
        "signature": signature_facts(identity_provider, response),
        "timing": {
            "issue_instant": assertion.issue_instant,
            "clock_difference_seconds": clock_difference(assertion.issue_instant, now),
            "not_before": getattr(conditions, "not_before", None),
            "not_on_or_after": getattr(conditions, "not_on_or_after", None),
        },
    }


def presets_filling(sent):
    """For each attribute preset, the user fields it would fill from the attribute names sent,
    and whether its groups attribute was sent: which preset fits this IdP."""
    fitting = []
    for preset in PRESETS.values():
        fills = sorted(
            {
                f
                for name, fields in preset["attribute_mapping"].items()
                if name in sent
                for f in fields
            }
        )
        if fills:
            groups = preset["groups_attribute"] in sent
            fitting.append({"label": preset["label"], "fills": fills, "groups": groups})
    return fitting


def describe_mapping(mapping):
    granted = [mapping.group.name] if mapping.group else []
    granted += ["staff"] if mapping.grants_staff else []
    granted += ["superuser"] if mapping.grants_superuser else []
    return ", ".join(granted) or "nothing"


def signature_facts(identity_provider, response):
    def algorithms(element):
        signature = element.signature
        if signature is None:
            return None
        signed_info = signature.signed_info
        return {
            "signature": signed_info.signature_method.algorithm,
            "digest": [reference.digest_method.algorithm for reference in signed_info.reference],
        }

    certificates = identity_provider.signing_certificates
    return {
        "response": algorithms(response.response),
        "assertion": algorithms(response.assertion),
        # With one signing certificate in the metadata, that one verified the signature.
        "verified_by": certificates[0]["subject"] if len(certificates) == 1 else None,
        "certificates": [
            {"subject": c["subject"], "sha256": c["sha256"], "expires": c["not_after"]}
            for c in certificates
        ],
    }


def clock_difference(issue_instant, now):
    """Seconds our clock is ahead of the IdP's, as far as one IssueInstant tells."""
    return round(now.timestamp() - timegm(str_to_time(issue_instant)))


def keep(test, report_data):
    test.report = report_data
    test.save(update_fields=["report"])


def is_uuid(value):
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def report_to_show(request, identity_provider, test_id):
    """The report of this admin's test, marked as shown: each is shown once, in the session
    that started the test (404 otherwise)."""
    with transaction.atomic():
        test = (
            TestSignIn.objects.select_for_update()
            .filter(
                pk=test_id,
                identity_provider=identity_provider,
                requested_by=request.user,
                session_key=request.session.session_key or "",
                report__isnull=False,
                shown_at__isnull=True,
            )
            .first()
        )
        if test is None:
            raise Http404(
                "No test report to show: each is shown once, to the admin who started the "
                "test, in the same session."
            )
        test.shown_at = timezone.now()
        test.save(update_fields=["shown_at"])
    return test


def as_text(report):
    """The report as the command line prints it."""
    if "name_id" not in report:
        return report["verdict"]["sentence"]
    lines = [
        report["verdict"]["sentence"],
        f"NameID: {report['name_id']['value']} ({report['name_id']['format'] or 'no format'})",
        "attributes:",
    ]
    for attribute in report["attributes"]:
        maps_to = "; ".join(attribute["maps_to"]) or "-"
        lines.append(f"  {attribute['name']}: {', '.join(attribute['values'])} -> {maps_to}")
    for preset in report["presets"]:
        groups = ", groups" if preset["groups"] else ""
        lines.append(f"preset {preset['label']} would fill: {', '.join(preset['fills'])}{groups}")
    groups = report["groups"]
    if groups:
        lines.append(f"groups granted: {', '.join(groups['granted']) or '-'}")
        lines.append(f"groups taken back: {', '.join(groups['taken_back']) or '-'}")
    signature = report["signature"]
    for element in ("response", "assertion"):
        signed = signature[element]
        lines.append(f"{element} signed: {signed['signature'] if signed else 'no'}")
    timing = report["timing"]
    lines.append(
        f"issued {timing['issue_instant']} (our clock {timing['clock_difference_seconds']} s "
        f"ahead), valid {timing['not_before'] or '-'} to {timing['not_on_or_after'] or '-'}"
    )
    return "\n".join(lines)
