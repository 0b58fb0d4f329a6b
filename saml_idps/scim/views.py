"""Each IdP's SCIM service, /scim/<slug>/v2/...: who may call it, and the provisioning audit
log. scim2-server serves the protocol over that IdP's storage."""

import json

from django.core.cache import cache
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from scim2_models import NotFoundException, SCIMException, UnauthorizedException
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest

from ..conf import app_setting
from ..models import IdentityProvider, ScimEvent
from .service import SERVICE
from .storage import IdentityProviderStorage
from .tokens import live_token

READ_ONLY_METHODS = {"GET", "HEAD"}


class TooManyFailures(SCIMException):
    status = 429
    _default_detail = "Too many requests without a valid token; try again later."


@csrf_exempt
def scim(request, slug, path="/"):
    scim_request = ScimRequest(
        method=request.method,
        base_url=request.build_absolute_uri(reverse("saml_idps:scim", kwargs={"slug": slug})),
        path=path,
        query=request.GET.dict(),
        headers=dict(request.headers),
        body=request.body,
    )
    identity_provider = IdentityProvider.objects.filter(slug=slug, scim_enabled=True).first()
    token = None
    try:
        if identity_provider is None:
            raise NotFoundException(detail="There is no SCIM service at this address.")
        token = authenticate(request, identity_provider)
        scim_request.subject = token
        storage = IdentityProviderStorage(identity_provider)
        response = ScimHandler(SERVICE, storage).handle(scim_request)
    except SCIMException as exception:
        response = SERVICE.error_response(exception)
    if identity_provider is not None and (token is None or request.method not in READ_ONLY_METHODS):
        ScimEvent.objects.create(
            identity_provider=identity_provider,
            token=token,
            action=f"{request.method} {path}"[:64],
            status=response.status,
            detail=json.dumps(response.body)[:2000] if response.status >= 400 else "",
            client_ip=request.META.get("REMOTE_ADDR") or None,
        )
    answer = HttpResponse(
        b"" if response.body is None else json.dumps(response.body),
        status=response.status,
        content_type="application/scim+json",
    )
    for name, value in response.headers.items():
        answer[name] = value
    return answer


def authenticate(request, identity_provider):
    """The IdP's token the request carries; 401 without one, 429 for a client that has sent
    too many requests without one (per IdP and client address, shared by every instance
    through the cache)."""
    failures = f"saml_idps:scim-failures:{identity_provider.pk}:{request.META.get('REMOTE_ADDR')}"
    if cache.get(failures, 0) >= app_setting("SCIM_MAX_FAILURES"):
        raise TooManyFailures
    token = live_token(identity_provider, request.headers.get("Authorization"))
    if token is None:
        cache.add(failures, 0, timeout=app_setting("SCIM_FAILURE_WINDOW"))
        cache.incr(failures)
        raise UnauthorizedException(detail="A valid bearer token of this IdP is required.")
    return token
