"""Each IdP's SCIM service, /scim/<slug>/v2/...: who may call it, and the provisioning audit
log. scim2-server serves the protocol over that IdP's storage."""

import json
import logging

from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from scim2_models import (
    NotFoundException,
    PayloadTooLargeException,
    SCIMException,
    UnauthorizedException,
)
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest

from ..conf import app_setting
from ..models import IdentityProvider, ScimEvent
from .service import SERVICE
from .storage import IdentityProviderStorage
from .tokens import live_token

logger = logging.getLogger(__name__)

READ_ONLY_METHODS = {"GET", "HEAD"}


class TooManyFailures(SCIMException):
    status = 429
    _default_detail = "Too many requests without a valid token; try again later."


@csrf_exempt
def scim(request, slug, path="/"):
    """The IdP's SCIM 2.0 service (RFC 7644), for a bearer token of that IdP only."""
    identity_provider = IdentityProvider.objects.filter(slug=slug).first()
    token = None
    changes = []
    try:
        if identity_provider is None or not identity_provider.scim_enabled:
            raise NotFoundException(detail="There is no SCIM service at this address.")
        token = authenticate(request, identity_provider)
        storage = IdentityProviderStorage(identity_provider)
        response = ScimHandler(SERVICE, storage).handle(scim_request(request, slug, path, token))
        changes = storage.provisioning.changes
    except SCIMException as exception:
        response = SERVICE.error_response(exception)
    except Exception as exception:  # noqa: BLE001 - a bug, still answered and audited as SCIM
        logger.exception("SCIM request failed: %s %s", request.method, request.path)
        response = SERVICE.error_response(exception)
    if identity_provider is not None:
        record(request, identity_provider, token, path, response, changes)
    answer = HttpResponse(
        b"" if response.body is None else json.dumps(response.body),
        status=response.status,
        content_type="application/scim+json",
    )
    for name, value in response.headers.items():
        answer[name] = value
    if response.status == TooManyFailures.status:
        answer["Retry-After"] = str(app_setting("SCIM_FAILURE_WINDOW"))
    return answer


def scim_request(request, slug, path, token):
    """The request as scim2-server reads it (its body read only once the caller is known)."""
    try:
        body = request.body
    except RequestDataTooBig:
        raise PayloadTooLargeException(detail="The request body is too large.") from None
    return ScimRequest(
        method=request.method,
        base_url=request.build_absolute_uri(reverse("saml_idps:scim", kwargs={"slug": slug})),
        path=path,
        query=request.GET.dict(),
        headers=dict(request.headers),
        body=body,
        subject=token,
    )


def authenticate(request, identity_provider):
    """The IdP's token the request carries. Without one: 401, or 429 once the client has sent
    too many requests without one (per IdP and client address, within the failure window; in
    the cache, so shared by the instances when the cache is Redis). A valid token always
    passes: a flood of bad ones cannot lock the IdP out."""
    token = live_token(identity_provider, request.headers.get("Authorization"))
    if token is not None:
        return token
    failures = f"saml_idps:scim-failures:{identity_provider.pk}:{request.META.get('REMOTE_ADDR')}"
    if cache.get(failures, 0) >= app_setting("SCIM_MAX_FAILURES"):
        raise TooManyFailures
    try:
        cache.incr(failures)
    except ValueError:  # the first failure of a window (or the window just ended)
        cache.set(failures, 1, timeout=app_setting("SCIM_FAILURE_WINDOW"))
    raise UnauthorizedException(detail="A valid bearer token of this IdP is required.")


def record(request, identity_provider, token, path, response, changes):
    """The audit log: every change, with what it changed in accounts, and every refusal (of a
    stopped client, the first one per window only, so that a flood cannot fill the log)."""
    if response.status < 400 and request.method in READ_ONLY_METHODS:
        return
    client_ip = request.META.get("REMOTE_ADDR") or None
    if response.status == TooManyFailures.status and not cache.add(
        f"saml_idps:scim-stopped:{identity_provider.pk}:{client_ip}",
        True,
        timeout=app_setting("SCIM_FAILURE_WINDOW"),
    ):
        return
    body = response.body or {}
    if response.status >= 400:
        detail = json.dumps(body)[:2000]
    else:
        detail = "; ".join(
            ([f"id {body['id']}"] if isinstance(body.get("id"), str) else []) + changes
        )
    ScimEvent.objects.create(
        identity_provider=identity_provider,
        token=token,
        action=f"{request.method} {path}"[:64],
        status=response.status,
        detail=detail,
        client_ip=client_ip,
    )
