"""Our checks of single-logout messages from the IdP, which pysaml2 as djangosaml2 calls it
does not make: a LogoutRequest must be signed, a LogoutResponse must answer our own request."""

from defusedxml.ElementTree import fromstring
from saml2.request import LogoutRequest

from .refusals import LoginRefused


def check_logout_request(client, data, binding):
    """The LogoutRequest in ``data`` must be signed by the IdP: in the XML for the POST
    binding, in the query string (SigAlg, Signature) for the HTTP-Redirect binding."""
    request = LogoutRequest(
        client.sec,
        client.config.endpoint("single_logout_service", binding, "sp"),
        client.config.attribute_converters,
        timeslack=client.config.accepted_time_diff or 0,
    )
    try:
        document = client.unravel(data["SAMLRequest"], binding, LogoutRequest.msgtype)
        request.loads(
            document,
            binding,
            origdoc=data["SAMLRequest"],
            must=True,
            relay_state=data.get("RelayState"),
            sigalg=data.get("SigAlg"),
            signature=data.get("Signature"),
        )
        request.verify()
    except Exception as exc:  # noqa: BLE001 - pysaml2 raises many kinds for a bad request
        raise LoginRefused(
            "logout_request_not_signed",
            "The logout request is not correctly signed by the identity provider, so it was "
            "ignored and you are still signed in here.",
            status=403,
        ) from exc


def check_logout_response(client, state, data, binding):
    """The LogoutResponse in ``data`` must answer a LogoutRequest this browser's session sent
    (its InResponseTo is in pysaml2's state kept by djangosaml2), whatever its status says."""
    try:
        document = client.unravel(data["SAMLResponse"], binding, "LogoutResponse")
        in_response_to = fromstring(document, forbid_dtd=True).get("InResponseTo")
    except Exception as exc:  # noqa: BLE001 - pysaml2 and the parser raise many kinds
        raise unreadable_logout_message() from exc
    if not in_response_to or (state.get(in_response_to) or {}).get("operation") != "SLO":
        raise LoginRefused(
            "unexpected_logout_response",
            "This logout response answers no sign-out started in this browser, so it was "
            "ignored and you are still signed in.",
            status=400,
        )


def unreadable_logout_message():
    return LoginRefused(
        "invalid_logout_message",
        "The identity provider's logout message could not be read.",
        status=400,
    )
