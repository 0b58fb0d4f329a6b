"""djangosaml2's views bound to one IdP by the URL's slug, and the pages around them."""

import logging

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render, resolve_url
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from djangosaml2 import views as djangosaml2_views
from djangosaml2.cache import OutstandingQueriesCache

from . import audit, logout_checks, replay, response_checks, test_sign_in
from .conf import app_setting
from .config import offers_single_logout, sp_config, sp_urls
from .forms import DiscoveryForm
from .models import IdentityLink, IdentityProvider, LoginAttempt
from .normalize import normalize_email, normalize_name_id
from .policy import identity_policy
from .refusals import LoginRefused
from .sessions import (
    SESSION_ATTRIBUTES,
    SESSION_IDP_SLUG,
    SESSION_LINK,
    SESSION_PENDING_REQUESTS,
    remember_subject,
    subject_signed_in,
)

logger = logging.getLogger(__name__)


class IdentityProviderMixin(djangosaml2_views.SPConfigMixin):
    """Binds a djangosaml2 view to the IdP of the URL's slug: 404 for an unknown one, a page
    saying so for a disabled one or one whose metadata's validUntil has passed.

    The IdP is looked up here, once per request, and handed on from ``self.identity_provider``:
    to djangosaml2 as the view's configuration, to the backend and to the checks."""

    records_attempts = False  # the ACS logs every response it receives

    def dispatch(self, request, *args, **kwargs):
        try:
            identity_provider = IdentityProvider.objects.get_for_request(kwargs["slug"])
        except IdentityProvider.DoesNotExist:
            raise Http404("No identity provider by that name.") from None
        self.identity_provider = identity_provider
        refusal = self.unavailable(request, identity_provider)
        if refusal is not None:
            if self.records_attempts:
                audit.record_refusal(request, identity_provider, refusal)
            return refusal_page(request, identity_provider, refusal)
        return super().dispatch(request, *args, **kwargs)

    def unavailable(self, request, identity_provider):
        """Why this IdP cannot be used now (a LoginRefused), or None."""
        return identity_policy().unavailable(identity_provider)

    def get_sp_config(self, request):
        """djangosaml2's per-view hook: the pysaml2 configuration of this view's IdP."""
        return sp_config(self.identity_provider, request)


class LoginView(IdentityProviderMixin, djangosaml2_views.LoginView):
    """SP-initiated login; with ``?test=<id>``, an admin's test sign-in (test_sign_in.py): the
    IdP asked to authenticate afresh (ForceAuthn), even while it is disabled."""

    test = None

    def unavailable(self, request, identity_provider):
        """An admin's test sign-in may try a disabled IdP."""
        if "test" in request.GET:
            self.test = test_sign_in.claimed(request, identity_provider, request.GET["test"])
        refusal = super().unavailable(request, identity_provider)
        if refusal is not None and refusal.code == "idp_disabled" and self.test is not None:
            return None
        return refusal

    def should_prevent_auth(self, request):
        return self.test is None and super().should_prevent_auth(request)

    def load_sso_kwargs(self, sso_kwargs):
        if self.test is not None:
            sso_kwargs["force_authn"] = "true"
            sso_kwargs["message_id"] = self.test.request_id

    def get(self, request, *args, **kwargs):
        sent_before = set(OutstandingQueriesCache(request.saml_session).outstanding_queries())
        response = super().get(request, *args, **kwargs)
        # Bind each AuthnRequest just sent to this IdP, so that only this IdP may answer it.
        sent_now = set(OutstandingQueriesCache(request.saml_session).outstanding_queries())
        if sent_now - sent_before:
            pending = request.saml_session.get(SESSION_PENDING_REQUESTS, {})
            pending.update(dict.fromkeys(sent_now - sent_before, self.identity_provider.slug))
            request.saml_session[SESSION_PENDING_REQUESTS] = pending
            if self.test is not None:
                test_sign_in.sent(self.test, request.saml_session)
        return response


# The IdP posts here from its own site, without our CSRF token. djangosaml2 exempts its views
# on their dispatch(); IdentityProviderMixin overrides dispatch(), so it is said again here.
@method_decorator(csrf_exempt, name="dispatch")
class AssertionConsumerServiceView(
    IdentityProviderMixin, djangosaml2_views.AssertionConsumerServiceView
):
    """Assertion Consumer Service (HTTP-POST binding): every check of response_checks.py and
    pysaml2, then the identity policy; each answer is a Login attempt in the audit log."""

    records_attempts = True
    refusal = None
    response = None  # pysaml2's AuthnResponse, once it has accepted one
    encrypted = False
    test = None  # the admin's test sign-in the response answers
    raw_checked = False
    disabled_unless_test = False

    def unavailable(self, request, identity_provider):
        """A disabled IdP is heard only by a browser waiting for the answer to a test of it."""
        refusal = super().unavailable(request, identity_provider)
        if (
            refusal is not None
            and refusal.code == "idp_disabled"
            and test_sign_in.pending_in(request.saml_session, identity_provider)
        ):
            self.disabled_unless_test = True
            return None
        return refusal

    # One transaction: the replay record, the user, the link, the groups and the audit entry are
    # written together or not at all, with one commit.
    @method_decorator(transaction.atomic)
    def post(self, request, *args, **kwargs):
        identity_provider = self.identity_provider
        try:
            self.encrypted = response_checks.check_raw_response(
                request.POST.get("SAMLResponse", ""), identity_provider
            )
            self.raw_checked = True
            response_checks.check_relay_state(request)
            # The IdP's create_users policy is applied by the backend: djangosaml2 reads a
            # False create_unknown_user argument as "use the setting".
            return super().post(request, attribute_mapping=identity_provider.attribute_mapping)
        except LoginRefused as refusal:  # from our checks, or the backend's identity policy
            self.refusal = refusal
            return self.handle_acs_failure(request)
        except test_sign_in.ReportReady as ready:
            return ready.response

    def custom_validation(self, response):
        """Our rules on top of pysaml2's, before anyone is signed in: issuer, timing,
        addressing, audience, request binding, NameID kind, and replay last."""
        self.response = response
        identity_provider = self.identity_provider
        urls = sp_urls(identity_provider, self.request)
        acs_urls = set(urls.acs_endpoints)
        try:
            # By every request ID the answer names: where only the assertion is signed, the
            # Response's InResponseTo could be stripped from a test's answer.
            test_request = next(
                (
                    i
                    for i in requests_answered(response)
                    if i.startswith(test_sign_in.REQUEST_ID_PREFIX)
                ),
                None,
            )
            if test_request is not None:
                self.test = test_sign_in.answered(
                    test_request, self.request.saml_session, identity_provider
                )
            elif self.disabled_unless_test:
                raise identity_policy().unavailable(identity_provider)
            if self.encrypted:  # the raw check saw every other signature already
                response_checks.check_decrypted_algorithms(response, identity_provider)
            response_checks.check_issuers(response, identity_provider)
            response_checks.check_timing(response, identity_provider)
            response_checks.check_destination(response, acs_urls)
            response_checks.check_subject_confirmation(response, acs_urls)
            response_checks.check_audience(response, urls.entity_id)
            response_checks.check_answers_own_request(
                response, self.request.saml_session, identity_provider
            )
            identity_policy().check_name_id(identity_provider, response.name_id)
            response_checks.check_name_id_fits(response)
            replay.consume_assertions(response, identity_provider)
        except LoginRefused as refusal:
            self.refusal = refusal  # djangosaml2 turns any exception here into its own
            raise

    def handle_acs_failure(self, request, exception=None, status=403, **kwargs):
        identity_provider = self.identity_provider
        refusal = self.refusal or response_checks.refusal_for(
            exception,
            identity_provider,
            response_checks.status_message(request.POST.get("SAMLResponse", "")),
        )
        if self.test is None and self.raw_checked:
            self.test = test_sign_in.refused_answer(
                request.POST["SAMLResponse"], request.saml_session, identity_provider
            )
        if self.test is not None:
            return self.report(test_sign_in.refusal_verdict(refusal), {})
        logger.warning(
            "Login through IdP %s refused: %s", identity_provider.slug, refusal.for_the_log()
        )
        audit.record_refusal(request, identity_provider, refusal, self.response)
        return refusal_page(request, identity_provider, refusal, refusal.status or status)

    def authenticate_user(
        self, request, session_info, attribute_mapping, create_unknown_user, assertion_info
    ):
        """djangosaml2's, with the IdP handed to the backend as an authenticate() keyword:
        djangosaml2 1.11 has no hook for more arguments. A LoginRefused of the backend's
        identity policy passes through Django's authenticate() to post(). The answer to a test
        sign-in only finds out what it would do, and ends in its report."""

        def authenticate():
            user = auth.authenticate(
                request=request,
                identity_provider=self.identity_provider,
                session_info=session_info,
                attribute_mapping=attribute_mapping,
                create_unknown_user=create_unknown_user,
                assertion_info=assertion_info,
            )
            if user is None:
                raise PermissionDenied("No user could be authenticated.")
            return user

        if self.test is not None:
            verdict, groups = test_sign_in.judge(self.identity_provider, session_info, authenticate)
            raise test_sign_in.ReportReady(self.report(verdict, groups))
        user = authenticate()
        auth.login(request, user)
        remember_subject(request.saml_session, session_info["name_id"])
        self.post_login_hook(request, user, session_info)
        self.customize_session(user, session_info)
        return user

    def report(self, verdict, groups):
        """Keep the test's report and log the test. The admin is sent to read it; a test from
        the command line is told that the command prints it."""
        test = self.test
        tested_by = test.requested_by or "the command line"
        test_sign_in.keep(
            test,
            test_sign_in.report(
                self.identity_provider, self.response, verdict, groups, test.requested_by
            ),
        )
        audit.record(
            self.request,
            self.identity_provider,
            LoginAttempt.Outcome.TEST,
            verdict.get("reason", ""),
            f"Test sign-in by {tested_by}: {verdict['sentence']}",
            response=self.response,
        )
        if test.requested_by is None:
            return render(
                self.request,
                "saml_idps/test_answered.html",
                {"identity_provider": self.identity_provider},
            )
        return redirect(
            "admin:saml_idps_identityprovider_test_report", self.identity_provider.pk, test.pk
        )

    def post_login_hook(self, request, user, session_info):
        audit.record(
            request,
            self.identity_provider,
            LoginAttempt.Outcome.SUCCESS,
            user=user,
            response=self.response,
        )

    def customize_session(self, user, session_info):
        # A new key for the SAML session too, as Django gives its own session at login: a key
        # planted in the browser before the login names nothing afterwards.
        self.request.saml_session.cycle_key()
        self.request.session[SESSION_IDP_SLUG] = self.identity_provider.slug
        self.request.session[SESSION_ATTRIBUTES] = session_info["ava"]
        # The link this sign-in came through: the session lasts while it is live (middleware).
        self.request.session[SESSION_LINK] = (
            IdentityLink.objects.filter(
                identity_provider=self.identity_provider,
                name_id=normalize_name_id(session_info["name_id"].text or ""),
                user=user,
            )
            .values_list("pk", flat=True)
            .first()
        )


class MetadataView(IdentityProviderMixin, djangosaml2_views.MetadataView):
    """Our SP metadata for the IdP's relying party; its URL is our default SP entity ID."""


@method_decorator(csrf_exempt, name="dispatch")  # as on the ACS
class SingleLogoutServiceView(IdentityProviderMixin, djangosaml2_views.LogoutView):
    """Logout requests and responses from the IdP. A LogoutRequest ends the local session only
    when the IdP signed it: pysaml2 as djangosaml2 calls it accepts unsigned ones. A
    LogoutResponse is heard only when it answers a LogoutRequest this browser sent: otherwise
    any page could sign its visitors out with an <img>. A message pysaml2 cannot read gets a
    clear page where djangosaml2 would answer a 500."""

    def do_logout_service(self, request, data, binding, *args, **kwargs):
        try:
            if "SAMLRequest" in data:
                _, client = self.get_state_client(request)
                logout_checks.check_logout_request(client, data, binding)
            elif "SAMLResponse" in data:
                state, client = self.get_state_client(request)
                logout_checks.check_logout_response(client, state, data, binding)
            return self.handle_logout_message(request, data, binding, *args, **kwargs)
        except LoginRefused as refusal:
            logger.warning("IdP %s: %s", self.identity_provider.slug, refusal.for_the_log())
            return refusal_page(request, self.identity_provider, refusal)

    def handle_logout_message(self, request, data, binding, *args, **kwargs):
        try:
            return super().do_logout_service(request, data, binding, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - pysaml2 raises many kinds for bad input
            raise logout_checks.unreadable_logout_message() from exc


class LogoutView(djangosaml2_views.LogoutInitView):
    """Sign out. GET only shows a button: a cross-site link or image cannot sign anyone out.

    Through the IdP (SAML single logout) when the user signed in through one that offers it;
    otherwise the session ends here, and the home page says so."""

    def get(self, request, *args, **kwargs):
        identity_provider = self.signed_in_through(request)
        if identity_provider is not None and not offers_single_logout(identity_provider, request):
            identity_provider = None
        return render(request, "saml_idps/logout.html", {"single_logout_idp": identity_provider})

    identity_provider = None

    def post(self, request, *args, **kwargs):
        self.identity_provider = identity_provider = self.signed_in_through(request)
        if identity_provider is not None and offers_single_logout(identity_provider, request):
            # djangosaml2 ends the local session and sends the user to the IdP's logout.
            response = super().get(request, *args, **kwargs)
        else:
            auth.logout(request)
            response = self.signed_out()
        messages.success(request, "You are signed out.")
        return response

    def get_sp_config(self, request):
        """djangosaml2's per-view hook: the configuration of the IdP the user signed in with."""
        return sp_config(self.identity_provider, request)

    def handle_unsupported_slo_exception(self, request, exception, *args, **kwargs):
        return self.signed_out()

    @staticmethod
    def signed_out():
        return redirect(resolve_url(settings.LOGOUT_REDIRECT_URL))

    @staticmethod
    def signed_in_through(request):
        """The enabled IdP of this SAML session, or None (a local user, or an IdP gone)."""
        if subject_signed_in(request.saml_session) is None:
            return None
        slug = request.session.get(SESSION_IDP_SLUG)
        try:
            identity_provider = IdentityProvider.objects.get_for_request(slug)
        except IdentityProvider.DoesNotExist:
            return None
        return identity_provider if identity_provider.enabled else None


def home(request):
    """The IdPs to sign in with: all of them when they are few; otherwise a search, and
    "Sign in with your work email", which finds the IdP owning the email's domain."""
    form = DiscoveryForm(request.GET)
    form.is_valid()  # what is invalid is simply left out of cleaned_data, and shown as an error
    email = form.cleaned_data.get("email", "")
    if email:
        owner = identity_policy().identity_provider_for_email(email)
        if owner is not None:
            return redirect("saml_idps:login", slug=owner.slug)
    enabled = IdentityProvider.objects.filter(enabled=True).only("slug", "name")
    limit = app_setting("HOME_LIST_LIMIT")
    query = form.cleaned_data.get("q", "")
    if query:
        matches = list(enabled.filter(name__icontains=query)[: limit + 1])
    else:
        matches = list(enabled[: limit + 1])
    return render(
        request,
        "saml_idps/home.html",
        {
            "identity_providers": matches[:limit],
            "more": len(matches) > limit,
            "searching": bool(query) or len(matches) > limit,
            "query": query,
            "email": email,
            "email_domain": normalize_email(email).rpartition("@")[2],
            "unknown_email": bool(email),
            "form": form,
        },
    )


@login_required
def user(request):
    """The signed-in user: name, email, the IdP, and the attributes of their assertion."""
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


def requests_answered(response):
    """The request IDs a response names: its own InResponseTo and its assertions'."""
    named = {response.in_response_to or ""}
    for assertion in response.assertions:
        for confirmation in assertion.subject.subject_confirmation:
            data = confirmation.subject_confirmation_data
            named.add(getattr(data, "in_response_to", None) or "")
    return named - {""}


def refusal_page(request, identity_provider, refusal, status=None):
    return render(
        request,
        "saml_idps/login_error.html",
        {
            "identity_provider": identity_provider,
            "reason": str(refusal),
            "code": refusal.code,
            "quoted": refusal.quoted,
        },
        status=refusal.status if status is None else status,
    )
