"""Our checks of a response pysaml2 has accepted, and plain words for what it refused."""

import calendar
from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from saml2.response import StatusError, StatusRequestDenied, UnsolicitedResponse
from saml2.saml import NAMEID_FORMAT_TRANSIENT
from saml2.sigver import SignatureError, SigverError
from saml2.time_util import str_to_time
from saml2.validate import ResponseLifetimeExceed, ToEarly

from .conf import app_setting
from .exceptions import LoginRefused
from .models import ConsumedAssertion

# AuthnRequest IDs this browser sent, each with the slug of the IdP it was sent to.
SESSION_PENDING_REQUESTS = "saml_idps_pending"


def check_issuers(response, identity_provider):
    """The Response's Issuer (when present; it is not signed when only the assertion is) and
    every Assertion's Issuer must be the IdP whose ACS received it."""
    issuers = {a.issuer.text.strip() if a.issuer is not None else "" for a in response.assertions}
    if response.response.issuer is not None:
        issuers.add(response.issuer())
    if issuers != {identity_provider.entity_id}:
        raise LoginRefused(
            "issuer_mismatch",
            f"The response was not issued by IdP '{identity_provider.name}' "
            f"(expected issuer {identity_provider.entity_id}).",
        )


def check_answers_own_request(response, request):
    """A response to an AuthnRequest must answer one this browser sent to this same IdP."""
    in_response_to = response.in_response_to
    if not in_response_to:
        return
    pending = request.saml_session.get(SESSION_PENDING_REQUESTS, {})
    if pending.get(in_response_to) != request.identity_provider.slug:
        raise LoginRefused(
            "unknown_request",
            "This response answers a sign-in request that this browser did not send to "
            f"{request.identity_provider.name}.",
        )
    del pending[in_response_to]
    request.saml_session[SESSION_PENDING_REQUESTS] = pending


def check_name_id(response):
    name_id = response.name_id
    if name_id is None or not (name_id.text or "").strip():
        raise LoginRefused("no_name_id", "The assertion has no NameID, so it names no user.")
    if name_id.format == NAMEID_FORMAT_TRANSIENT:
        raise LoginRefused(
            "transient_name_id",
            "The IdP sent a transient NameID, which changes at every sign-in and cannot identify "
            "a user. An admin should configure the IdP to send a persistent NameID (in Okta: "
            "Name ID format EmailAddress, Persistent or Unspecified).",
        )


def consume_assertions(response):
    """Record each assertion ID as used; one already recorded is a replay.

    The unique constraint in the shared database makes this atomic across processes and
    instances; rows are pruned once the assertion could no longer be accepted anyway.
    """
    now = timezone.now()
    ConsumedAssertion.objects.filter(expires_at__lt=now).delete()
    for assertion in response.assertions:
        issuer = assertion.issuer.text.strip()
        try:
            with transaction.atomic():
                ConsumedAssertion.objects.create(
                    issuer=issuer, assertion_id=assertion.id, expires_at=replay_expiry(assertion)
                )
        except IntegrityError:
            raise LoginRefused(
                "replay", "This sign-in response was already used. Sign in again from the start."
            ) from None


def replay_expiry(assertion):
    """When the assertion can no longer pass pysaml2's time checks: its latest NotOnOrAfter
    plus the clock skew (or the replay window when it states none)."""
    limits = [
        confirmation.subject_confirmation_data.not_on_or_after
        for confirmation in assertion.subject.subject_confirmation
        if confirmation.subject_confirmation_data is not None
    ]
    if assertion.conditions is not None:
        limits.append(assertion.conditions.not_on_or_after)
    timestamps = [calendar.timegm(str_to_time(limit)) for limit in limits if limit]
    if not timestamps:
        return timezone.now() + timedelta(seconds=app_setting("REPLAY_WINDOW"))
    return datetime.fromtimestamp(max(timestamps), tz=UTC) + timedelta(
        seconds=app_setting("CLOCK_SKEW")
    )


def refusal_for(exception, identity_provider):
    """Why pysaml2 or djangosaml2 refused a response, as a LoginRefused in plain words."""
    name = identity_provider.name
    if isinstance(exception, SignatureError | SigverError):
        return LoginRefused(
            "signature_invalid",
            f"The response's signature could not be verified with the certificates in the "
            f"metadata of IdP '{name}'. If the IdP changed its signing certificate, an admin "
            "should refresh its metadata.",
        )
    if isinstance(exception, UnsolicitedResponse):
        return LoginRefused(
            "unsolicited",
            f"This response does not answer a sign-in started here, and IdP-initiated sign-in "
            f"is not allowed for IdP '{name}'. Start the sign-in from this site.",
        )
    if isinstance(exception, ResponseLifetimeExceed | ToEarly):
        return LoginRefused(
            "outside_validity",
            "The response is expired or not yet valid. Try again; if it keeps happening, the "
            "clocks of this site and the IdP disagree.",
        )
    if isinstance(exception, StatusRequestDenied):
        return LoginRefused("cancelled", f"The sign-in was cancelled or denied at IdP '{name}'.")
    if isinstance(exception, StatusError):
        return LoginRefused("idp_status", f"IdP '{name}' did not sign you in: {exception}")
    if isinstance(exception, PermissionDenied):
        return LoginRefused(
            "not_authenticated",
            f"No account here could be signed in for this identity from IdP '{name}'.",
        )
    return LoginRefused(
        "invalid_response",
        f"The response from IdP '{name}' is not a valid sign-in response and was refused.",
    )
