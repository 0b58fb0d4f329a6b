"""A small SAML IdP for trying the site without an Okta org. Development only: it signs anyone
in as any of its demo users."""

import base64
from urllib.parse import urlsplit

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.samlp import STATUS_REQUEST_DENIED
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from .server import metadata_xml, relying_parties, tenant_name, tenant_server
from .users import DEMO_USERS

BINDINGS = {"redirect": BINDING_HTTP_REDIRECT, "post": BINDING_HTTP_POST}
# pysaml2 signs with SHA-1 unless told otherwise, whatever its configuration says.
SHA256 = {"sign_alg": SIG_RSA_SHA256, "digest_alg": DIGEST_SHA256}
PASSWORD_AUTHN = {"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}


@require_GET
def home(request, tenant):
    """Like an Okta dashboard: start an IdP-initiated sign-in to one of the apps."""
    server = tenant_server(request, tenant)
    apps = [
        {"entity_id": config.entityid, "name": f"{request.get_host()} · {row.name}"}
        for config, row in relying_parties(request, server.config.entityid)
    ]
    return render(
        request,
        "demo_idp/home.html",
        {"tenant": tenant, "idp_name": tenant_name(tenant), "apps": apps, "users": DEMO_USERS},
    )


@require_GET
def metadata(request, tenant):
    return HttpResponse(
        metadata_xml(tenant_server(request, tenant)), content_type="application/samlmetadata+xml"
    )


@csrf_exempt  # the SP's HTTP-POST binding form cannot carry our CSRF token
def single_sign_on(request, tenant, binding):
    """Receive an AuthnRequest and show the sign-in page."""
    data = request.GET if binding == "redirect" else request.POST
    server = tenant_server(request, tenant)
    authn_request, error = received_authn_request(server, data.get("SAMLRequest", ""), binding)
    if error:
        return bad_request(request, tenant, error)
    return render(
        request,
        "demo_idp/sign_in.html",
        {
            "tenant": tenant,
            "idp_name": tenant_name(tenant),
            "users": DEMO_USERS,
            "sp_entity_id": authn_request.issuer.text,
            "sp_host": urlsplit(authn_request.issuer.text).netloc or authn_request.issuer.text,
            "saml_request": data["SAMLRequest"],
            "binding": binding,
            "relay_state": data.get("RelayState", ""),
        },
    )


@require_POST
def sign_in(request, tenant):
    """Answer the AuthnRequest: sign in as the chosen user, or report the cancellation."""
    server = tenant_server(request, tenant)
    binding = request.POST.get("binding", "")
    authn_request, error = received_authn_request(
        server, request.POST.get("SAMLRequest", ""), binding
    )
    if error:
        return bad_request(request, tenant, error)
    response_args = server.response_args(authn_request, [BINDING_HTTP_POST])
    if "cancel" in request.POST:
        del response_args["name_id_policy"], response_args["sp_entity_id"]
        response = server.create_error_response(
            info=(STATUS_REQUEST_DENIED, "The user cancelled the sign-in."),
            sign=True,
            **SHA256,
            **response_args,
        )
    else:
        username = request.POST.get("user", "")
        if username not in DEMO_USERS:
            return bad_request(request, tenant, "Pick one of the demo users.")
        response = authn_response(server, username, **response_args)
    relay_state = request.POST.get("RelayState", "")
    return post_to(request, tenant, response_args["destination"], response, relay_state)


@require_POST
def launch(request, tenant):
    """IdP-initiated sign-in: an unsolicited response to the chosen app's ACS."""
    server = tenant_server(request, tenant)
    sp_entity_id = request.POST.get("app", "")
    username = request.POST.get("user", "")
    if sp_entity_id not in server.metadata.service_providers() or username not in DEMO_USERS:
        return bad_request(request, tenant, "Pick one of the apps and one of the demo users.")
    destination = server.metadata.assertion_consumer_service(sp_entity_id, BINDING_HTTP_POST)[0]
    response = authn_response(
        server,
        username,
        in_response_to=None,
        destination=destination["location"],
        sp_entity_id=sp_entity_id,
    )
    return post_to(request, tenant, destination["location"], response, "")


@require_GET
def single_logout(request, tenant):
    """Answer a LogoutRequest (HTTP-Redirect binding): the user is signed out here at once."""
    server = tenant_server(request, tenant)
    try:
        logout_request = server.parse_logout_request(
            request.GET["SAMLRequest"], BINDING_HTTP_REDIRECT
        ).message
        response_args = server.response_args(logout_request, [BINDING_HTTP_REDIRECT])
    except Exception:  # noqa: BLE001 - pysaml2 raises many kinds for a bad message
        return bad_request(request, tenant, "This is not a valid logout request.")
    response = server.create_logout_response(
        logout_request, [BINDING_HTTP_REDIRECT], sign=True, **SHA256
    )
    http_info = server.apply_binding(
        BINDING_HTTP_REDIRECT,
        str(response),
        response_args["destination"],
        request.GET.get("RelayState", ""),
        response=True,
    )
    return HttpResponseRedirect(dict(http_info["headers"])["Location"])


def received_authn_request(server, saml_request, binding):
    """``(request, None)`` for a valid AuthnRequest from a known SP, else ``(None, reason)``."""
    if binding not in BINDINGS or not saml_request:
        return None, "No SAML AuthnRequest was received."
    try:
        authn_request = server.parse_authn_request(saml_request, BINDINGS[binding]).message
        server.response_args(authn_request, [BINDING_HTTP_POST])
    except Exception:  # noqa: BLE001 - pysaml2 raises many kinds for a bad or unknown request
        return None, (
            "This is not a valid AuthnRequest from an app registered with this demo IdP. "
            "Register the IdP in the site's admin first."
        )
    return authn_request, None


def authn_response(server, username, name_id_policy=None, **response_args):
    attributes = DEMO_USERS[username]
    return server.create_authn_response(
        identity=attributes,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=attributes["Email"][0]),
        authn=PASSWORD_AUTHN,
        sign_response=True,
        sign_assertion=True,
        **SHA256,
        **response_args,
    )


def post_to(request, tenant, destination, response, relay_state):
    """The HTTP-POST binding: a page that posts the response to the SP at once."""
    return render(
        request,
        "demo_idp/post.html",
        {
            "tenant": tenant,
            "idp_name": tenant_name(tenant),
            "destination": destination,
            "saml_response": base64.b64encode(str(response).encode()).decode(),
            "relay_state": relay_state,
        },
    )


def bad_request(request, tenant, reason):
    return render(
        request,
        "demo_idp/error.html",
        {"tenant": tenant, "idp_name": tenant_name(tenant), "reason": reason},
        status=HttpResponseBadRequest.status_code,
    )
