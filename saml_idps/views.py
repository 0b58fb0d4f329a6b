"""djangosaml2's views bound to one IdP by the URL's slug, and the pages around them."""

import calendar
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from djangosaml2 import views as djangosaml2_views
from djangosaml2.cache import OutstandingQueriesCache
from saml2.response import (
    StatusError,
    StatusRequestDenied,
    UnsolicitedResponse,
)
from saml2.saml import NAMEID_FORMAT_TRANSIENT
from saml2.sigver import SignatureError, SigverError
from saml2.time_util import str_to_time
from saml2.validate import ResponseLifetimeExceed, ToEarly

from .backends import DEFAULT_ATTRIBUTE_MAPPING
from .conf import app_setting
from .config import SESSION_IDP_SLUG, identity_provider_for
from .models import ConsumedAssertion, IdentityProvider

logger = logging.getLogger(__name__)

# AuthnRequest IDs this browser sent, each with the slug of the IdP it was sent to.
SESSION_PENDING_REQUESTS = "saml_idps_pending"
# The attributes of the assertion the user signed in with, for the user page.
SESSION_ATTRIBUTES = "saml_idps_attributes"


class LoginRefused(Exception):
    """A response pysaml2 accepted that our own rules refuse. The message is shown to the user."""


class IdentityProviderMixin(djangosaml2_views.SPConfigMixin):
    """Binds a djangosaml2 view to the enabled IdP of the URL's slug (404 otherwise), and
    refuses to work with metadata whose validUntil has passed."""

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        identity_provider_for(request)

    def dispatch(self, request, *args, **kwargs):
        identity_provider = request.identity_provider
        if identity_provider.metadata_expired:
            reason = (
                f"The metadata of IdP '{identity_provider.name}' expired on "
                f"{identity_provider.metadata_valid_until:%Y-%m-%d %H:%M} UTC and no fresh copy "
                "could be fetched, so sign-in through it is refused. An admin should refresh its "
                "metadata (Admin › Identity providers › Refresh metadata now)."
            )
            logger.warning("IdP %s: %s", identity_provider.slug, reason)
            return refusal_page(request, identity_provider, reason, status=503)
        return super().dispatch(request, *args, **kwargs)


class LoginView(IdentityProviderMixin, djangosaml2_views.LoginView):
    def get(self, request, *args, **kwargs):
        sent_before = set(OutstandingQueriesCache(request.saml_session).outstanding_queries())
        response = super().get(request, *args, **kwargs)
        # Bind each AuthnRequest just sent to this IdP, so that only this IdP may answer it.
        sent_now = set(OutstandingQueriesCache(request.saml_session).outstanding_queries())
        if sent_now - sent_before:
            pending = request.saml_session.get(SESSION_PENDING_REQUESTS, {})
            pending.update(dict.fromkeys(sent_now - sent_before, request.identity_provider.slug))
            request.saml_session[SESSION_PENDING_REQUESTS] = pending
        return response


# The IdP posts here from its own site, without our CSRF token. djangosaml2 exempts its views
# on their dispatch(); IdentityProviderMixin overrides dispatch(), so it is said again here.
@method_decorator(csrf_exempt, name="dispatch")
class AssertionConsumerServiceView(
    IdentityProviderMixin, djangosaml2_views.AssertionConsumerServiceView
):
    refusal = None

    def post(self, request, *args, **kwargs):
        return super().post(
            request, attribute_mapping=DEFAULT_ATTRIBUTE_MAPPING, create_unknown_user=True
        )

    def custom_validation(self, response):
        """Our rules on top of pysaml2's: issuer, request binding, NameID kind, replay."""
        try:
            check_issuers(response, self.request.identity_provider)
            check_answers_own_request(response, self.request)
            check_name_id(response)
            consume_assertions(response)
        except LoginRefused as refusal:
            self.refusal = refusal
            raise

    def handle_acs_failure(self, request, exception=None, status=403, **kwargs):
        identity_provider = request.identity_provider
        reason = (
            str(self.refusal) if self.refusal else describe_failure(exception, identity_provider)
        )
        logger.warning("Login through IdP %s refused: %s", identity_provider.slug, reason)
        return refusal_page(request, identity_provider, reason, status)

    def customize_session(self, user, session_info):
        self.request.session[SESSION_IDP_SLUG] = self.request.identity_provider.slug
        self.request.session[SESSION_ATTRIBUTES] = session_info["ava"]


class MetadataView(IdentityProviderMixin, djangosaml2_views.MetadataView):
    pass


@method_decorator(csrf_exempt, name="dispatch")  # as on the ACS
class SingleLogoutServiceView(IdentityProviderMixin, djangosaml2_views.LogoutView):
    pass


class LogoutView(djangosaml2_views.LogoutInitView):
    """Sign out. GET only shows a button: a cross-site link or image cannot sign anyone out."""

    def get(self, request, *args, **kwargs):
        return render(request, "saml_idps/logout.html")

    def post(self, request, *args, **kwargs):
        if djangosaml2_views._get_subject_id(request.saml_session) is not None and (
            IdentityProvider.objects.filter(
                slug=request.session.get(SESSION_IDP_SLUG), enabled=True
            ).exists()
        ):
            # SAML single logout: djangosaml2 ends the local session and sends the user to the
            # IdP when its metadata has a SingleLogoutService, else just redirects.
            return super().get(request, *args, **kwargs)
        auth.logout(request)
        return redirect(settings.LOGOUT_REDIRECT_URL)


def home(request):
    identity_providers = IdentityProvider.objects.filter(enabled=True).only("slug", "name")
    return render(request, "saml_idps/home.html", {"identity_providers": identity_providers})


@login_required
def user(request):
    slug = request.session.get(SESSION_IDP_SLUG)
    attributes = request.session.get(SESSION_ATTRIBUTES, {})
    return render(
        request,
        "saml_idps/user.html",
        {
            "identity_provider": IdentityProvider.objects.filter(slug=slug).first(),
            "attributes": sorted(attributes.items()),
        },
    )


def refusal_page(request, identity_provider, reason, status):
    return render(
        request,
        "saml_idps/login_error.html",
        {"identity_provider": identity_provider, "reason": reason},
        status=status,
    )


def check_issuers(response, identity_provider):
    """The Response's Issuer (when present; it is not signed when only the assertion is) and
    every Assertion's Issuer must be the IdP whose ACS received it."""
    issuers = {a.issuer.text.strip() if a.issuer is not None else "" for a in response.assertions}
    if response.response.issuer is not None:
        issuers.add(response.issuer())
    if issuers != {identity_provider.entity_id}:
        raise LoginRefused(
            f"The response was not issued by {identity_provider.name} "
            f"(expected issuer {identity_provider.entity_id})."
        )


def check_answers_own_request(response, request):
    """A response to an AuthnRequest must answer one this browser sent to this same IdP."""
    in_response_to = response.in_response_to
    if not in_response_to:
        return
    pending = request.saml_session.get(SESSION_PENDING_REQUESTS, {})
    if pending.get(in_response_to) != request.identity_provider.slug:
        raise LoginRefused(
            "This response answers a sign-in request that this browser did not send to "
            f"{request.identity_provider.name}."
        )
    del pending[in_response_to]
    request.saml_session[SESSION_PENDING_REQUESTS] = pending


def check_name_id(response):
    name_id = response.name_id
    if name_id is None or not (name_id.text or "").strip():
        raise LoginRefused("The assertion has no NameID, so it names no user.")
    if name_id.format == NAMEID_FORMAT_TRANSIENT:
        raise LoginRefused(
            "The IdP sent a transient NameID, which changes at every sign-in and cannot identify "
            "a user. An admin should configure the IdP to send a persistent NameID (in Okta: "
            "Name ID format EmailAddress, Persistent or Unspecified)."
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
                "This sign-in response was already used. Sign in again from the start."
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


def describe_failure(exception, identity_provider):
    """Plain words for why pysaml2 or the backend refused a response."""
    name = identity_provider.name
    if isinstance(exception, SignatureError | SigverError):
        return (
            f"The response's signature could not be verified with the certificates in the "
            f"metadata of IdP '{name}'. If the IdP changed its signing certificate, an admin "
            "should refresh its metadata."
        )
    if isinstance(exception, UnsolicitedResponse):
        return (
            f"This response does not answer a sign-in started here, and IdP-initiated sign-in "
            f"is not allowed for IdP '{name}'. Start the sign-in from this site."
        )
    if isinstance(exception, ResponseLifetimeExceed | ToEarly):
        return (
            "The response is expired or not yet valid. Try again; if it keeps happening, the "
            "clocks of this site and the IdP disagree."
        )
    if isinstance(exception, StatusRequestDenied):
        return f"The sign-in was cancelled or denied at IdP '{name}'."
    if isinstance(exception, StatusError):
        return f"IdP '{name}' did not sign you in: {exception}"
    if isinstance(exception, PermissionDenied):
        return (
            f"No account here could be signed in for this identity from IdP '{name}'. "
            "The account may be inactive; ask an admin."
        )
    return f"The response from IdP '{name}' is not a valid sign-in response and was refused."
