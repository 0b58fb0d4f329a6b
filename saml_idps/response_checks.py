"""Our checks of a SAMLResponse: before pysaml2 parses it (the raw document), after pysaml2
has accepted it (what it does not check itself), and plain words for what it refused."""

import base64
import binascii
import calendar
import zlib
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from saml2 import xmldsig
from saml2.response import StatusError, StatusRequestDenied, UnsolicitedResponse
from saml2.saml import SCM_BEARER
from saml2.samlp import STATUS_SUCCESS
from saml2.sigver import SignatureError, SigverError
from saml2.time_util import str_to_time
from saml2.validate import ResponseLifetimeExceed, ToEarly
from saml2.xml.schema import XMLSchemaError

from .conf import app_setting
from .models import IdentityLink
from .normalize import normalize_name_id
from .refusals import LoginRefused
from .sessions import SESSION_PENDING_REQUESTS

NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
SIGNATURE_METHODS = {
    xmldsig.SIG_RSA_SHA256,
    xmldsig.SIG_RSA_SHA384,
    xmldsig.SIG_RSA_SHA512,
    xmldsig.SIG_ECDSA_SHA256,
    xmldsig.SIG_ECDSA_SHA384,
    xmldsig.SIG_ECDSA_SHA512,
}
DIGEST_METHODS = {xmldsig.DIGEST_SHA256, xmldsig.DIGEST_SHA384, xmldsig.DIGEST_SHA512}
SHA1_METHODS = {xmldsig.SIG_RSA_SHA1, xmldsig.SIG_ECDSA_SHA1, xmldsig.DIGEST_SHA1}


# --- Before pysaml2 parses the response ----------------------------------------------------


def check_raw_response(saml_response, identity_provider):
    """The posted SAMLResponse must be plain base64 of one well-formed samlp:Response without
    a DOCTYPE, holding exactly one assertion, signed only with allowed algorithms. Returns
    whether that assertion is encrypted (its algorithms can only be checked once decrypted).

    pysaml2 would inflate a deflated body without limit, allows a DOCTYPE, and counts
    assertions after it has dropped empty EncryptedAssertions; so we look first.
    """
    if not saml_response:
        raise LoginRefused(
            "missing_response",
            "No SAMLResponse was posted.",
            status=400,
        )
    if len(saml_response) > app_setting("MAX_RESPONSE_BYTES"):
        raise LoginRefused(
            "too_large",
            "The SAMLResponse is larger than allowed.",
            status=400,
        )
    try:
        document = base64.b64decode("".join(saml_response.split()), validate=True)
    except (binascii.Error, ValueError):
        raise LoginRefused(
            "not_base64",
            "The SAMLResponse is not base64.",
            status=400,
        ) from None
    if inflates(document):
        raise LoginRefused(
            "deflated",
            "The SAMLResponse is compressed, which the HTTP-POST binding does not allow.",
            status=400,
        )
    try:
        root = fromstring(document, forbid_dtd=True)
    except DefusedXmlException:
        raise LoginRefused(
            "doctype",
            "The SAMLResponse contains a DOCTYPE or entities.",
            status=400,
        ) from None
    except ParseError:
        raise LoginRefused(
            "malformed",
            "The SAMLResponse is not well-formed XML.",
            status=400,
        ) from None
    except (ValueError, LookupError):  # an encoding Python's parser cannot read, or unknown
        raise LoginRefused(
            "bad_encoding",
            "The SAMLResponse declares an encoding this site does not read.",
            status=400,
        ) from None
    if root.tag != f"{{{NS_SAMLP}}}Response":
        raise LoginRefused(
            "not_a_response",
            f"A {root.tag.rpartition('}')[2]} was posted where a sign-in Response belongs.",
            status=400,
        )
    assertions = [
        element
        for element in root.iter()
        if element.tag in (f"{{{NS_SAML}}}Assertion", f"{{{NS_SAML}}}EncryptedAssertion")
    ]
    status = root.find(f"{{{NS_SAMLP}}}Status/{{{NS_SAMLP}}}StatusCode")
    succeeded = status is not None and status.get("Value") == STATUS_SUCCESS
    check_assertion_count(assertions, succeeded)
    if (
        succeeded
        and identity_provider.require_encryption
        and assertions[0].tag != f"{{{NS_SAML}}}EncryptedAssertion"
    ):
        raise LoginRefused(
            "encryption_required",
            f"IdP '{identity_provider.name}' must encrypt its assertions, and this one is not "
            "encrypted. An admin should turn on assertion encryption at the IdP.",
            status=400,
        )
    check_algorithms(root, identity_provider)
    return bool(assertions) and assertions[0].tag == f"{{{NS_SAML}}}EncryptedAssertion"


def check_assertion_count(assertions, succeeded):
    """A success carries exactly one assertion, a failure (cancelled, denied) none: every XML
    signature wrapping attack adds one, and this refuses it before the heavy parse."""
    if len(assertions) != (1 if succeeded else 0):
        raise LoginRefused(
            "assertion_count",
            f"The response holds {len(assertions)} assertions; exactly one is accepted.",
            status=400,
        )


def check_decrypted_algorithms(response, identity_provider):
    """The algorithms of signatures inside an encrypted assertion, visible only now."""
    check_algorithms(fromstring(response.xmlstr, forbid_dtd=True), identity_provider)


def inflates(document):
    """Whether pysaml2's decoder would inflate this body (it tries before plain base64)."""
    try:
        zlib.decompressobj(-15).decompress(document, 1024)
    except zlib.error:
        return False
    return True


def check_algorithms(root, identity_provider):
    """Every signature's SignatureMethod and DigestMethods must be allowed: SHA-256 or better,
    SHA-1 only where the IdP allows it, MD5 and HMAC never. A DigestMethod outside a signature
    (the OAEP digest of an EncryptedKey, SHA-1 by Shibboleth's default) signs nothing."""
    allowed = SIGNATURE_METHODS | DIGEST_METHODS
    if identity_provider.allow_sha1:
        allowed |= SHA1_METHODS
    for signed_info in root.iter(f"{{{NS_DS}}}SignedInfo"):
        methods = signed_info.findall(f"{{{NS_DS}}}SignatureMethod")
        methods += signed_info.findall(f"{{{NS_DS}}}Reference/{{{NS_DS}}}DigestMethod")
        for element in methods:
            algorithm = element.get("Algorithm")
            if algorithm not in allowed:
                hint = (
                    " An admin can allow SHA-1 for this IdP, or better, have it sign with SHA-256."
                    if algorithm in SHA1_METHODS
                    else ""
                )
                raise LoginRefused(
                    "weak_algorithm",
                    f"The response is signed with an algorithm that is not accepted from IdP "
                    f"'{identity_provider.name}'.{hint}",
                    status=400,
                    detail=f"algorithm: {algorithm or '(none)'}",
                )


def check_relay_state(request):
    """An unsafe RelayState (another site, javascript:, ...) is an attack, not a destination."""
    relay_state = request.POST.get("RelayState")
    if relay_state and not url_has_allowed_host_and_scheme(
        relay_state, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        raise LoginRefused(
            "unsafe_relay_state",
            "The response asks to continue to an address outside this site; refused.",
            status=400,
        )


# --- After pysaml2 has accepted the response -----------------------------------------------


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


def check_answers_own_request(response, saml_session, identity_provider):
    """A response to an AuthnRequest must answer one this browser (its ``saml_session``) sent
    to this same IdP."""
    in_response_to = response.in_response_to
    if not in_response_to:
        return
    pending = saml_session.get(SESSION_PENDING_REQUESTS, {})
    if pending.get(in_response_to) != identity_provider.slug:
        raise LoginRefused(
            "unknown_request",
            "This response answers a sign-in request that this browser did not send to "
            f"{identity_provider.name}.",
        )
    del pending[in_response_to]
    saml_session[SESSION_PENDING_REQUESTS] = pending


def check_name_id_fits(response):
    """The NameID (which the identity policy accepted) fits the column of the link, as it is
    stored: normalised, which can lengthen it (ß becomes ss)."""
    check_fits(normalize_name_id(response.name_id.text or ""), IdentityLink, "name_id", "NameID")


def check_timing(response, identity_provider):
    """Response and assertion must have been issued recently, and not in the future."""
    now = timezone.now()
    skew = timedelta(seconds=identity_provider.clock_skew)
    oldest = now - timedelta(seconds=app_setting("MAX_MESSAGE_AGE")) - skew
    for element in [response.response, *response.assertions]:
        try:
            issued = instant(element.issue_instant)
        except (TypeError, ValueError):
            raise LoginRefused(
                "bad_issue_instant",
                "The response has no valid IssueInstant.",
            ) from None
        if issued > now + skew:
            raise LoginRefused(
                "issued_in_future",
                "The response was issued in the future. The clocks of this site and the IdP "
                "disagree; an admin should check them.",
            )
        if issued < oldest:
            raise LoginRefused(
                "issued_too_long_ago",
                "The response was issued too long ago.",
            )


def check_subject_confirmation(response, acs_urls):
    """A bearer SubjectConfirmation must name one of our ACS URLs as its Recipient and state
    until when it may be used (pysaml2 accepts either missing)."""
    for assertion in response.assertions:
        data = [
            confirmation.subject_confirmation_data
            for confirmation in assertion.subject.subject_confirmation
            if confirmation.method == SCM_BEARER and confirmation.subject_confirmation_data
        ]
        if not any(d.recipient in acs_urls and d.not_on_or_after for d in data):
            raise LoginRefused(
                "bad_subject_confirmation",
                "The assertion is not addressed to this site's sign-in URL (Recipient) or does "
                "not say until when it may be used (NotOnOrAfter).",
            )


def check_audience(response, entity_id):
    """Conditions with AudienceRestrictions, every one of which names us. pysaml2 accepts a
    missing Conditions, and takes several AudienceRestrictions as alternatives."""
    for assertion in response.assertions:
        conditions = assertion.conditions
        restrictions = conditions.audience_restriction if conditions is not None else []
        if not restrictions or not all(
            entity_id in {audience.text for audience in restriction.audience}
            for restriction in restrictions
        ):
            raise LoginRefused(
                "wrong_audience",
                f"The assertion is not restricted to this site's entity ID ({entity_id}).",
            )


def check_destination(response, acs_urls):
    destination = response.response.destination
    if destination is not None and destination not in acs_urls:
        raise LoginRefused(
            "wrong_destination",
            "The response is addressed to another URL (Destination).",
        )


def check_fits(value, model, field_name, what):
    """A value from a message must fit the column it is kept in: refused, not cut (a cut NameID
    could name someone else) and not left to the database (a DataError, and no audit record)."""
    limit = model._meta.get_field(field_name).max_length
    if len(value or "") > limit:
        raise LoginRefused(
            "value_too_long",
            f"The response's {what} is {len(value)} characters long; at most {limit} are accepted.",
        )


def instant(text):
    """An xs:dateTime as an aware datetime; ValueError (TypeError for None) when it is none."""
    try:
        parsed = str_to_time(text)
    except AttributeError:  # pysaml2's parser, on text not shaped like a date at all
        raise ValueError(f"not an xs:dateTime: {text!r}") from None
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)


def status_message(saml_response):
    """The StatusMessage of a posted response (it passed the raw check), or "": the IdP's own
    words, or an attacker's, since an error response need not be signed."""
    try:
        root = fromstring(base64.b64decode("".join(saml_response.split())), forbid_dtd=True)
    except (DefusedXmlException, ParseError, ValueError, LookupError, binascii.Error):
        return ""
    message = root.find(f"{{{NS_SAMLP}}}Status/{{{NS_SAMLP}}}StatusMessage")
    return (message.text or "") if message is not None else ""


def refusal_for(exception, identity_provider, quoted=""):
    """Why pysaml2 or djangosaml2 refused a response, as a LoginRefused in plain words.
    ``quoted`` is the response's own StatusMessage, kept apart from our words."""
    name = identity_provider.name
    if isinstance(exception, SignatureError) and isinstance(exception.__cause__, XMLSchemaError):
        return LoginRefused(
            "schema_invalid",
            f"The response from IdP '{name}' does not follow the SAML 2.0 schema, so its "
            "signature was not checked. The IdP (or an SP setting it echoes, such as a request "
            "ID) produces invalid SAML; refreshing the certificate will not help.",
        )
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
        return LoginRefused(
            "cancelled",
            f"The sign-in was cancelled or denied at IdP '{name}'.",
            quoted=quoted,
        )
    if isinstance(exception, StatusError):
        return LoginRefused(
            "idp_status",
            f"IdP '{name}' did not sign you in: it answered with an error status.",
            quoted=quoted,
        )
    if isinstance(exception, PermissionDenied):
        return LoginRefused(
            "not_authenticated",
            f"No account here could be signed in for this identity from IdP '{name}'.",
        )
    return LoginRefused(
        "invalid_response",
        f"The response from IdP '{name}' is not a valid sign-in response and was refused.",
        detail=f"pysaml2: {exception}",
    )
