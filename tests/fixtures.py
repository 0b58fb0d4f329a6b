"""Small builders the tests share: IdPs registered with the site, sign-ins, a metadata server."""

import functools
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.contrib.auth import get_user_model
from django.test import Client, TestCase

from saml_idps import metadata, transfer
from saml_idps.models import IdentityProvider, LoginAttempt

from .idp import TestIdentityProvider

SITE = "http://testserver"


# The HTTP status of each refusal, as the site promises it: 400 for a message that is not a
# readable, well-formed sign-in message; 404 for an IdP that is turned off; 409 for an account
# an admin has to sort out; 503 for an IdP whose metadata has expired; 403 for every other
# refusal. Kept here, apart from the code, so that a changed status fails a test.
MALFORMED_MESSAGES = {
    "missing_response",
    "too_large",
    "not_base64",
    "deflated",
    "doctype",
    "malformed",
    "bad_encoding",
    "not_a_response",
    "encryption_required",
    "assertion_count",
    "weak_algorithm",
    "unsafe_relay_state",
    "invalid_logout_message",
    "unexpected_logout_response",
}
REFUSAL_STATUS = {code: 400 for code in MALFORMED_MESSAGES} | {
    "idp_disabled": 404,
    "account_conflict": 409,
    "metadata_expired": 503,
}


def refusal_status(code):
    return REFUSAL_STATUS.get(code, 403)


@functools.cache
def shared_idp(name, **options):
    """One test IdP per name for the whole run: generating its key is the slow part."""
    return TestIdentityProvider(name, **options)


def acs_url(slug):
    return f"{SITE}/saml/{slug}/acs/"


def sp_entity_id(slug):
    return f"{SITE}/saml/{slug}/metadata/"


def register(idp, slug, **fields):
    """Store ``idp`` as an IdentityProvider row."""
    row = IdentityProvider(slug=slug, name=fields.pop("name", slug.upper()), **fields)
    metadata.register(row, metadata.check_new_copy(row, xml=idp.metadata_xml))
    return row


def sp_metadata(slug):
    return Client().get(f"/saml/{slug}/metadata/").content.decode()


# The management forms of the admin change page's inlines, all empty.
NO_INLINES = {
    f"{prefix}-{count}_FORMS": "0"
    for prefix in ("email_domains", "group_mappings", "metadata_changes", "scim_tokens")
    for count in ("TOTAL", "INITIAL")
}


def admin_change_data(row, **changes):
    """What the admin's change form of ``row`` posts when saved with ``changes``."""
    data = transfer.form_data({}, row)
    data.update(NO_INLINES)
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


class SamlTestCase(TestCase):
    """Two IdPs, A and B, each with keys of its own, registered as slugs idp-a and idp-b."""

    def setUp(self):
        self.idp_a, self.idp_b = shared_idp("idp-a"), shared_idp("idp-b")
        self.row_a = register(self.idp_a, "idp-a")
        self.row_b = register(self.idp_b, "idp-b")
        # Both IdPs know both of our SPs, so that each can send a genuine response anywhere.
        for idp in (self.idp_a, self.idp_b):
            idp.trust(sp_metadata("idp-a"))
            idp.trust(sp_metadata("idp-b"))

    def post_response(self, slug, saml_response, relay_state="", client=None):
        return (client or self.client).post(
            f"/saml/{slug}/acs/", {"SAMLResponse": saml_response, "RelayState": relay_state}
        )

    def idp_initiated(self, idp, slug, client=None, relay_state="", **kwargs):
        saml_response = idp.response(acs_url(slug), sp_entity_id(slug), **kwargs)
        return self.post_response(slug, saml_response, relay_state, client)

    def start_login(self, slug, query="", client=None):
        """The IdP URL our SP-initiated login redirects the browser to."""
        response = (client or self.client).get(f"/saml/{slug}/login/{query}")
        self.assertEqual(response.status_code, 302, response.content[:500])
        return response["Location"]

    def sign_in(self, idp, slug, query="", **kwargs):
        """SP-initiated login through ``idp``: our redirect, the IdP's answer, our ACS."""
        saml_response, relay_state = idp.answer(self.start_login(slug, query), **kwargs)
        return self.post_response(slug, saml_response, relay_state)

    def assertRefused(self, response, code, fragment=None, detail=""):
        """A refusal page with ``code``'s status naming reason ``code`` (and saying
        ``fragment``), the same code in the audit log (its detail holding ``detail``), and
        nobody signed in."""
        self.assertEqual(response.status_code, refusal_status(code))
        self.assertContains(response, f"<code>{code}</code>", status_code=response.status_code)
        if fragment is not None:
            self.assertContains(response, fragment, status_code=response.status_code)
        attempt = LoginAttempt.objects.latest("pk")
        self.assertEqual(attempt.reason, code)
        self.assertIn(detail, attempt.detail)
        self.assertNotIn("_auth_user_id", self.client.session)

    def assertSignedIn(self, response, user=None):
        self.assertEqual(response.status_code, 302, response.content[:2000])
        self.assertIn("_auth_user_id", self.client.session)
        if user is not None:
            self.assertEqual(str(user.pk), self.client.session["_auth_user_id"])
        return get_user_model().objects.get(pk=self.client.session["_auth_user_id"])


class QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients hang up mid-body on purpose (size caps, timeouts)


# A validator a server hands out, and the request header that sends it back.
CONDITIONAL_GET = (("ETag", "If-None-Match"), ("Last-Modified", "If-Modified-Since"))


class MetadataServer:
    """A local HTTP server standing in for an IdP's metadata URL, running until the test ends.

    ``routes`` maps a path to ``(status, headers, body)``, or to a function that answers the
    request itself (for slow or broken servers). A route's ``ETag`` or ``Last-Modified`` is
    honoured with 304 when the request sends it back (compared as text, not as a date).
    Other paths answer 404. ``requests`` records the headers of every request received.
    """

    def __init__(self, test_case, routes):
        self.routes = dict(routes)
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(dict(self.headers))
                route = server.routes.get(self.path, (404, {}, b"nope"))
                if callable(route):
                    return route(self)
                status, headers, body = route
                if any(
                    name in headers and self.headers.get(condition) == headers[name]
                    for name, condition in CONDITIONAL_GET
                ):
                    status, body = 304, b""
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = QuietHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        test_case.addCleanup(self.httpd.server_close)
        test_case.addCleanup(self.httpd.shutdown)

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


def xml_route(document, **headers):
    body = document.encode() if isinstance(document, str) else document
    return (200, {"Content-Type": "application/samlmetadata+xml", **headers}, body)


def with_root_attributes(xml, **attributes):
    """The metadata with attributes added to its root element (validUntil, cacheDuration)."""
    text = " ".join(f'{name}="{value}"' for name, value in attributes.items())
    return re.sub(r"(<\w+:EntityDescriptor )", rf"\1{text} ", xml, count=1)


def in_aggregate(*documents):
    entities = "".join(re.sub(r"<\?xml[^>]*\?>", "", d) for d in documents)
    return (
        '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        f"{entities}</md:EntitiesDescriptor>"
    )


def free_port():
    """A local port where nothing listens (for now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_port_url():
    return f"http://127.0.0.1:{free_port()}/metadata"
