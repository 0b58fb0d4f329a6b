"""Fetch, check, store and refresh IdP metadata. The only module of saml_idps on the network.

It runs when an admin saves an IdP, or when a command or an admin action refreshes one; never
during a login, which reads the last good copy from the database.
"""

import base64
import binascii
import calendar
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit
from xml.etree.ElementTree import ParseError

import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.db import transaction
from django.utils import timezone
from requests.adapters import HTTPAdapter
from saml2 import md
from saml2.attribute_converter import ac_factory
from saml2.mdstore import InMemoryMetaData
from saml2.sigver import CryptoBackendXmlSec1, SigverError, get_xmlsec_binary
from saml2.time_util import add_duration, str_to_time
from urllib3.util.ssl_match_hostname import CertificateError

from . import crypto
from .conf import app_setting, metadata_allow_insecure
from .models import IdentityProvider, MetadataChange

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
ENTITY = f"{{{NS_MD}}}EntityDescriptor"
ENTITIES = f"{{{NS_MD}}}EntitiesDescriptor"
ENDPOINT_SERVICES = ("SingleSignOnService", "SingleLogoutService")
# A template variable where the entity ID belongs: https://sts.windows.net/{tenantid}/
PLACEHOLDER = re.compile(r"\{[^}]*\}|%7B|\$\{")
# How often metadata is refreshed when it states no cacheDuration or validUntil.
DEFAULT_REFRESH = timedelta(hours=24)
# Never refresh more often than this, whatever cacheDuration says.
MINIMUM_REFRESH = timedelta(minutes=5)


class MetadataError(Exception):
    """Metadata that cannot be used. The message is written for the admin who has to fix it."""


@dataclass(frozen=True)
class IdpMetadata:
    """One IdP's metadata document, checked."""

    entity_id: str
    xml: str
    signing_certificates: tuple[x509.Certificate, ...]
    endpoints: frozenset[tuple[str, str, str]]  # (service, binding, location)
    valid_until: datetime | None
    cache_durations: tuple[str, ...]
    signature: str = IdentityProvider.MetadataSignature.UNSIGNED

    def next_refresh(self, now):
        """When to fetch again: within every cacheDuration and before validUntil."""
        candidates = [
            datetime.fromtimestamp(calendar.timegm(add_duration(now.utctimetuple(), d)), tz=UTC)
            for d in self.cache_durations
        ] or [now + DEFAULT_REFRESH]
        if self.valid_until is not None:
            candidates.append(self.valid_until)
        return max(min(candidates), now + MINIMUM_REFRESH)


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None: the server answered 304 Not Modified
    etag: str = ""
    last_modified: str = ""


@dataclass(frozen=True)
class RefreshResult:
    identity_provider: IdentityProvider
    outcome: str  # "updated", "unchanged" or "error"
    detail: str = ""


# --- Fetching ----------------------------------------------------------------------------------


def fetch(url, etag="", last_modified=""):
    """The body at ``url`` (or None for 304 Not Modified when a validator is given).

    The host is resolved once and checked, and the connection goes to that checked address, so
    a DNS answer that changes in between cannot point us elsewhere. No redirects are followed.
    """
    hostname, address = check_url(url)
    parts = urlsplit(url)
    host = f"[{address}]" if address.version == 6 else str(address)
    if parts.port:
        host = f"{host}:{parts.port}"
    headers = {
        "Host": parts.netloc,
        "Accept": "application/samlmetadata+xml, application/xml, text/xml",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    connect_timeout, read_timeout = app_setting("METADATA_TIMEOUT")
    deadline = time.monotonic() + connect_timeout + read_timeout
    with requests.Session() as session:
        # No proxy or netrc from the environment: we connect to the address we checked. The
        # CA bundle an operator configured for requests still applies.
        session.trust_env = False
        session.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        session.mount(f"{parts.scheme}://", PinnedAddressAdapter(hostname))
        try:
            with session.get(
                urlunsplit(parts._replace(netloc=host)),
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(connect_timeout, read_timeout),
            ) as response:
                if response.status_code == 304 and (etag or last_modified):
                    return Fetched(None, etag, last_modified)
                if response.is_redirect:
                    raise MetadataError(
                        "The server redirects to "
                        f"{response.headers.get('Location', '?')}; redirects are not followed: "
                        "enter the final metadata URL instead."
                    )
                if response.status_code != 200:
                    raise MetadataError(f"The server answered HTTP {response.status_code}.")
                return Fetched(
                    read_capped(response, deadline),
                    response.headers.get("ETag", ""),
                    response.headers.get("Last-Modified", ""),
                )
        except requests.Timeout as exc:
            raise MetadataError("The metadata server did not answer in time.") from exc
        except requests.RequestException as exc:
            raise MetadataError(f"Could not fetch the metadata: {why_unreachable(exc)}") from exc


def why_unreachable(error):
    """The cause of a failed fetch in words: refused, TLS, reset, or the error itself."""
    causes = []
    while error is not None and len(causes) < 10:
        causes.append(error)
        error = (
            error.__cause__
            or error.__context__
            or next(
                (arg for arg in getattr(error, "args", ()) if isinstance(arg, BaseException)), None
            )
        )
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the server's TLS certificate was not accepted ({cause.verify_message})."
        if isinstance(cause, CertificateError):  # urllib3's own host name check
            return f"the server's TLS certificate was not accepted ({cause})."
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed ({cause.reason or cause})."
        if isinstance(cause, ConnectionRefusedError):
            return "the connection was refused (nothing listens at that address and port)."
        if isinstance(cause, ConnectionResetError):
            return "the server closed the connection."
    text = str(causes[-1]) or type(causes[-1]).__name__
    return "Connection refused." if "Connection refused" in text else f"{text[:200]}."


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to the address in the URL (the one we checked) while TLS still verifies the
    server's certificate, and sends SNI, for the metadata URL's real host name."""

    def __init__(self, hostname):
        self.hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        kwargs.update(server_hostname=self.hostname, assert_hostname=self.hostname)
        super().init_poolmanager(*args, **kwargs)


def read_capped(response, deadline):
    """The decoded body (gzip included), refused once it grows past the size cap or the
    deadline passes. It reads what has arrived as it arrives, so a server dripping a byte at a
    time cannot hold us past the deadline by keeping each single read under the timeout."""
    limit = app_setting("METADATA_MAX_BYTES")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise MetadataError(f"The metadata is larger than the {limit} byte limit.")
    body = bytearray()
    try:
        while chunk := response.raw.read1(16 * 1024, decode_content=True):
            body.extend(chunk)
            if len(body) > limit:
                raise MetadataError(f"The metadata is larger than the {limit} byte limit.")
            if time.monotonic() > deadline:
                raise MetadataError("The metadata server did not answer in time.")
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise MetadataError("The metadata server did not answer in time.") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise MetadataError(f"The metadata could not be read ({exc.__class__.__name__}).") from exc
    return bytes(body)


def check_url(url):
    """Check a metadata URL and resolve its host: ``(hostname, address to connect to)``.

    Refused: schemes other than https (and http in development), credentials in the URL, and
    (unless insecure hosts are allowed) hosts with any non-public address, in whatever form the
    URL writes it (127.1, 2130706433, 0177.0.0.1, [::ffff:127.0.0.1], ...).
    """
    parts = urlsplit(url)
    insecure_ok = metadata_allow_insecure()
    if parts.scheme not in ({"https", "http"} if insecure_ok else {"https"}):
        raise MetadataError(
            "The metadata URL must start with https://"
            + ("" if insecure_ok else " (plain http is allowed only in development).")
        )
    if "@" in parts.netloc:
        raise MetadataError("The metadata URL must not contain a user name or password.")
    if not parts.hostname:
        raise MetadataError("The metadata URL has no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise MetadataError("The metadata URL has an invalid port.") from exc
    addresses = resolve(parts.hostname, port)
    if not insecure_ok:
        for address in addresses:
            if not is_public(address):
                raise MetadataError(
                    f"The metadata host {parts.hostname} resolves to {address}, which is not a "
                    "public address."
                )
    return parts.hostname, addresses[0]


def resolve(hostname, port):
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise MetadataError(f"The metadata host {hostname} could not be resolved.") from exc
    return sorted(
        {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos},
        key=lambda address: address.version,
    )


# IPv6 ranges that Python counts as global but that reach an IPv4 address (NAT64, 6to4,
# Teredo, IPv4-compatible) or are deprecated site-local: one of them can reach 127.0.0.1.
NOT_PUBLIC_V6 = tuple(
    ipaddress.ip_network(network)
    for network in (
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "2001::/32",
        "::/96",
        "::ffff:0:0:0/96",
        "fec0::/10",
    )
)


def is_public(address):
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.version == 6 and any(address in network for network in NOT_PUBLIC_V6):
        return False
    return address.is_global and not address.is_multicast


# --- Checking a document -----------------------------------------------------------------------


def parse(document, entity_id="", pinned_certificate=""):
    """Check an IdP metadata document and return what we keep of it.

    It must be one EntityDescriptor (or one taken from an EntitiesDescriptor aggregate: the one
    ``entity_id`` names, or its only IdP) with a SAML 2.0 IDPSSODescriptor, a
    SingleSignOnService and at least one signing certificate; not expired; signed with
    ``pinned_certificate`` when one is given; and pysaml2 must load it as it will at login.
    Without a pinned certificate a signature is still checked, and the verdict kept.
    """
    data = document.encode() if isinstance(document, str) else document
    if len(data) > app_setting("METADATA_MAX_BYTES"):
        raise MetadataError("The metadata is larger than the size limit.")
    root = parse_xml(data)
    if pinned_certificate:
        check_signature(data, root, pinned_certificate)
    outer_valid_until, outer_durations = validity(root) if root.tag == ENTITIES else (None, ())

    if root.tag == ENTITIES:
        whole = (data, root)
        data = extract_entity(data, entity_id or only_identity_provider(root))
        root = parse_xml(data)
    elif root.tag != ENTITY:
        raise MetadataError("The document is not SAML 2.0 metadata (no EntityDescriptor).")
    elif entity_id and root.get("entityID") != entity_id:
        raise MetadataError(f"The metadata describes {root.get('entityID')}, not {entity_id}.")
    else:
        whole = (data, root)

    entity = read_entity(root)
    valid_until = min(
        (v for v in (outer_valid_until, entity.valid_until) if v is not None), default=None
    )
    if valid_until is not None and valid_until <= timezone.now():
        raise MetadataError(
            f"The metadata expired on {valid_until:%Y-%m-%d %H:%M} UTC (its validUntil). Get a "
            "fresh copy from the IdP: its metadata URL, or its admin console (in Okta: the app's "
            "Sign On tab; in Entra ID: the enterprise app's Single sign-on page)."
        )
    if not entity.signing_certificates:
        raise MetadataError("The identity provider publishes no signing certificate.")
    xml = data.decode("utf-8")
    check_pysaml2_loads(xml, entity.entity_id)
    return IdpMetadata(
        entity_id=entity.entity_id,
        xml=xml,
        signing_certificates=entity.signing_certificates,
        endpoints=entity.endpoints,
        valid_until=valid_until,
        cache_durations=outer_durations + entity.cache_durations,
        signature=IdentityProvider.MetadataSignature.PINNED
        if pinned_certificate
        else signature_verdict(*whole, entity.signing_certificates),
    )


def only_identity_provider(aggregate):
    """The entity ID of the one SAML 2.0 IdP in an aggregate (Keycloak before v12 wraps its
    realm's IdP in an EntitiesDescriptor); an error naming them when there are several."""
    found = [
        entity.get("entityID", "")
        for entity in aggregate.iter(ENTITY)
        if any(
            SAML2_PROTOCOL in (descriptor.get("protocolSupportEnumeration") or "").split()
            for descriptor in entity.iterfind(f"{{{NS_MD}}}IDPSSODescriptor")
        )
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        raise MetadataError("The aggregate (EntitiesDescriptor) holds no SAML 2.0 IdP.")
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    raise MetadataError(
        f"The document is an aggregate of {len(found)} IdPs ({shown}). Enter the entity ID of "
        "this IdP in 'entity ID in an aggregate' (manage.py saml_idps add --entity-id), or use "
        "the metadata URL of this one IdP."
    )


def parse_xml(data):
    try:
        return fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MetadataError("The metadata contains a DOCTYPE or entities; refused.") from exc
    except ParseError as exc:
        raise MetadataError(f"The document is not well-formed XML ({exc}).") from exc
    except (ValueError, LookupError) as exc:
        raise MetadataError(
            "The document declares an encoding this site does not read; use UTF-8."
        ) from exc


def read_entity(root):
    """What an EntityDescriptor says of its IdP, without judging it (see parse)."""
    entity_id = (root.get("entityID") or "").strip()
    if not entity_id:
        raise MetadataError("The EntityDescriptor has no entityID.")
    if PLACEHOLDER.search(entity_id):
        raise MetadataError(
            f"The entity ID {entity_id} is a placeholder, which no sign-in response carries: "
            "this is multi-tenant metadata (Entra ID's common endpoint). Use the metadata URL "
            "of your own tenant's app instead (Entra admin center › Enterprise applications › "
            "the app › Single sign-on › App Federation Metadata Url)."
        )
    idp = next(
        (
            descriptor
            for descriptor in root.iterfind(f"{{{NS_MD}}}IDPSSODescriptor")
            if SAML2_PROTOCOL in (descriptor.get("protocolSupportEnumeration") or "").split()
        ),
        None,
    )
    if idp is None:
        raise MetadataError(
            "The metadata describes no SAML 2.0 identity provider (no IDPSSODescriptor). "
            "Is this the metadata of a service provider?"
        )
    if idp.find(f"{{{NS_MD}}}SingleSignOnService") is None:
        raise MetadataError("The identity provider has no SingleSignOnService.")
    valid_until, durations = validity(root)
    return IdpMetadata(
        entity_id=entity_id,
        xml="",
        signing_certificates=tuple(signing_certificates(idp)),
        endpoints=frozenset(
            (service, element.get("Binding", ""), element.get("Location", ""))
            for service in ENDPOINT_SERVICES
            for element in idp.iterfind(f"{{{NS_MD}}}{service}")
        ),
        valid_until=valid_until,
        cache_durations=durations,
    )


def validity(element):
    """``(validUntil, cacheDurations)`` stated on an element."""
    valid_until = element.get("validUntil")
    try:
        until = (
            datetime.fromtimestamp(calendar.timegm(str_to_time(valid_until)), tz=UTC)
            if valid_until
            else None
        )
        duration = element.get("cacheDuration")
        if duration:
            add_duration(time.gmtime(), duration)  # raises on a malformed duration
    except (ValueError, TypeError, KeyError) as exc:
        raise MetadataError("The metadata has an invalid validUntil or cacheDuration.") from exc
    return until, (duration,) if duration else ()


def signing_certificates(idp_descriptor):
    for key_descriptor in idp_descriptor.iterfind(f"{{{NS_MD}}}KeyDescriptor"):
        if key_descriptor.get("use", "signing") != "signing":
            continue
        for element in key_descriptor.iterfind(f".//{{{NS_DS}}}X509Certificate"):
            yield load_certificate(element.text or "")


def load_certificate(base64_der):
    try:
        der = base64.b64decode("".join(base64_der.split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise MetadataError("A signing certificate in the metadata cannot be read.") from exc


def extract_entity(data, entity_id):
    """The EntityDescriptor of ``entity_id`` in an aggregate, as a document of its own."""

    def descriptors(aggregate):
        yield from aggregate.entity_descriptor
        for nested in aggregate.entities_descriptor:
            yield from descriptors(nested)

    aggregate = md.entities_descriptor_from_string(data)
    found = [d for d in descriptors(aggregate) if d.entity_id == entity_id]
    if len(found) != 1:
        raise MetadataError(
            f"The aggregate contains {len(found)} entities with the entity ID {entity_id}; "
            "exactly one is needed."
        )
    return str(found[0]).encode()


def enveloped_signature_reference(root):
    """The ID the document's enveloped signature over its root refers to ("" for the whole
    document), or None when the root carries no such signature."""
    signature = next(iter(root), None)
    if signature is None or signature.tag != f"{{{NS_DS}}}Signature":
        return None
    references = signature.findall(f".//{{{NS_DS}}}Reference")
    root_id = root.get("ID")
    uri = references[0].get("URI") if len(references) == 1 else None
    if uri not in {"", f"#{root_id}" if root_id else ""}:
        return None
    return uri[1:]


def signature_verifies(data, root, certificate_pem):
    """Whether the root's enveloped signature verifies with ``certificate_pem``, checked by the
    crypto backend that checks logins (SAML_IDPS_CRYPTO_BACKEND)."""
    reference = enveloped_signature_reference(root)
    if reference is None:
        return False
    namespace, local_name = root.tag[1:].split("}")
    with tempfile.NamedTemporaryFile(suffix=".pem") as certificate_file:
        certificate_file.write(certificate_pem.strip().encode() + b"\n")
        certificate_file.flush()
        try:
            return bool(
                signature_backend().validate_signature(
                    data,
                    certificate_file.name,
                    "pem",
                    f"{namespace}:{local_name}",
                    reference or None,
                )
            )
        except MetadataError:
            raise
        except Exception:  # noqa: BLE001 - whatever a hostile document makes a backend raise
            return False


def signature_backend():
    if app_setting("CRYPTO_BACKEND") == crypto.XMLSEC1:
        try:
            return CryptoBackendXmlSec1(get_xmlsec_binary())
        except SigverError as exc:
            raise MetadataError(
                "SAML_IDPS_CRYPTO_BACKEND is 'xmlsec1' but the xmlsec1 program is not installed."
            ) from exc
    return crypto.XmlSecBindings()


def check_signature(data, root, pinned_pem):
    """The document must carry an enveloped signature over its root, made with the key of
    the pinned certificate. pysaml2's own ``cert`` option would accept an unsigned document."""
    if enveloped_signature_reference(root) is None:
        raise MetadataError(
            "The metadata is not signed, but a pinned signing certificate requires a signature."
        )
    if not signature_verifies(data, root, pinned_pem):
        raise MetadataError("The metadata's signature does not verify with the pinned certificate.")


def signature_verdict(data, root, signing_certificates):
    """Without a pinned certificate: is the document signed, and does its signature verify with
    a certificate it carries (the signature's KeyInfo, or the IdP's signing certificates)?
    That proves no origin, only that nothing was altered since it was signed."""
    verdicts = IdentityProvider.MetadataSignature
    if next(iter(root), None) is None or next(iter(root)).tag != f"{{{NS_DS}}}Signature":
        return verdicts.UNSIGNED
    carried = []
    for element in next(iter(root)).iter(f"{{{NS_DS}}}X509Certificate"):
        try:
            carried.append(pem_certificate(load_certificate(element.text or "")))
        except MetadataError:
            continue  # an unreadable KeyInfo verifies nothing; the IdP's certificates may
    own = [pem_certificate(certificate) for certificate in signing_certificates]
    if any(signature_verifies(data, root, pem) for pem in dict.fromkeys(carried + own)):
        return verdicts.VERIFIED
    # Signed with a key the document does not carry (a federation's): nothing to check with.
    return verdicts.INVALID if carried else verdicts.UNCHECKED


def pem_certificate(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def check_pysaml2_loads(xml, entity_id):
    # Validity is judged by parse(); pysaml2 would refuse expired metadata with a bare ToOld.
    store = InMemoryMetaData(ac_factory(), xml, check_validity=False)
    try:
        store.load()
    except Exception as exc:  # noqa: BLE001 - pysaml2 raises many types for invalid metadata
        raise MetadataError(f"pysaml2 cannot load the metadata: {exc}") from exc
    if entity_id not in store.entity:
        raise MetadataError("pysaml2 found no usable entity in the metadata.")


def normalize_pem(pem):
    """A PEM text with the whitespace around and within its lines removed."""
    return "\n".join(line.strip() for line in pem.strip().splitlines() if line.strip())


def load_pinned_certificate(pem):
    """Check a pasted PEM certificate; returns it normalised."""
    try:
        x509.load_pem_x509_certificate(normalize_pem(pem).encode())
    except ValueError as exc:
        raise MetadataError("This is not a PEM certificate (-----BEGIN CERTIFICATE-----).") from exc
    return normalize_pem(pem)


# --- Applying a document to an IdP -------------------------------------------------------------


def check_replacement(identity_provider, metadata):
    """A new copy may not change the IdP's entity ID, nor take another IdP's."""
    if identity_provider.entity_id and metadata.entity_id != identity_provider.entity_id:
        raise MetadataError(
            f"The metadata now describes the entity {metadata.entity_id}, not "
            f"{identity_provider.entity_id}, so it was refused and the previous copy kept. If "
            "the IdP really changed its entity ID, register it as a new identity provider."
        )
    others = IdentityProvider.objects.filter(entity_id=metadata.entity_id)
    if others.exclude(pk=identity_provider.pk).exists():
        raise MetadataError(
            f"Another identity provider already has the entity ID {metadata.entity_id}."
        )


def apply(identity_provider, metadata, fetched=None):
    """Make ``metadata`` the IdP's last good copy (the caller saves the row)."""
    now = timezone.now()
    identity_provider.entity_id = metadata.entity_id
    identity_provider.metadata_xml = metadata.xml
    identity_provider.metadata_valid_until = metadata.valid_until
    identity_provider.signing_certificates = [
        certificate_summary(c) for c in metadata.signing_certificates
    ]
    identity_provider.certificates_expire_at = min(
        c.not_valid_after_utc for c in metadata.signing_certificates
    )
    identity_provider.metadata_signature = metadata.signature
    identity_provider.last_error = ""
    # Pasted metadata is not scheduled; a URL added later is refreshed at the next stale run.
    identity_provider.metadata_refresh_at = metadata.next_refresh(now) if fetched else None
    if fetched is not None:
        identity_provider.metadata_fetched_at = now
        identity_provider.metadata_etag = fetched.etag
        identity_provider.metadata_last_modified = fetched.last_modified


def certificate_summary(certificate):
    return {
        "sha256": certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
        "subject": certificate.subject.rfc4514_string(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
    }


def describe_changes(old_xml, metadata):
    """What a new copy changes, in lines an admin reads when logins start behaving differently."""
    new_certificates = {certificate_summary(c)["sha256"]: c for c in metadata.signing_certificates}
    if not old_xml:
        lines = [f"Registered {metadata.entity_id}."]
        lines += [f"Signing certificate: {describe(c)}" for c in new_certificates.values()]
        return "\n".join(lines)
    old = read_entity(parse_xml(old_xml.encode()))
    old_certificates = {certificate_summary(c)["sha256"]: c for c in old.signing_certificates}
    lines = [
        f"Signing certificate added: {describe(new_certificates[f])}"
        for f in new_certificates.keys() - old_certificates.keys()
    ]
    lines += [
        f"Signing certificate removed: {describe(old_certificates[f])}"
        for f in old_certificates.keys() - new_certificates.keys()
    ]
    lines += [
        f"Endpoint added: {service} {binding.rsplit(':', 1)[-1]} {location}"
        for service, binding, location in sorted(metadata.endpoints - old.endpoints)
    ]
    lines += [
        f"Endpoint removed: {service} {binding.rsplit(':', 1)[-1]} {location}"
        for service, binding, location in sorted(old.endpoints - metadata.endpoints)
    ]
    return "\n".join(lines) or "No signing certificate or endpoint changed."


def describe(certificate):
    summary = certificate_summary(certificate)
    return f"{summary['subject']}, SHA-256 {summary['sha256']}, expires {summary['not_after']}"


def describe_result(result):
    """A refresh's outcome in words, for the command line and the admin alike."""
    if result.outcome == "updated":
        return f"refreshed, the new copy is in use. {result.detail}"
    if result.outcome == "unchanged":
        return "unchanged"
    return f"failed, the last good copy stays in use. {result.detail}"


def record_change(identity_provider, source, summary):
    MetadataChange.objects.create(
        identity_provider=identity_provider, source=source or "pasted XML", summary=summary
    )


def refresh(identity_provider):
    """Fetch the IdP's metadata again and apply it when it passes every check.

    On any failure the last good copy stays as it is (logins keep working) and the reason is
    kept in ``last_error``.
    """
    url = identity_provider.metadata_url
    try:
        if not url:
            raise MetadataError("No metadata URL: paste the new metadata in the admin.")
        has_copy = bool(identity_provider.metadata_xml)
        fetched = fetch(
            url,
            identity_provider.metadata_etag if has_copy else "",
            identity_provider.metadata_last_modified if has_copy else "",
        )
        metadata = parse(
            fetched.body if fetched.body is not None else identity_provider.metadata_xml,
            identity_provider.aggregate_entity_id
            if fetched.body is not None
            else identity_provider.entity_id,
            identity_provider.metadata_signing_certificate if fetched.body is not None else "",
        )
        if fetched.body is None:  # 304: the stored copy, whose signature was judged when fetched
            metadata = replace(metadata, signature=identity_provider.metadata_signature)
        check_replacement(identity_provider, metadata)
    except MetadataError as error:
        IdentityProvider.objects.filter(pk=identity_provider.pk).update(
            last_error=f"{timezone.now():%Y-%m-%d %H:%M} UTC: {error}"
        )
        identity_provider.refresh_from_db()
        return RefreshResult(identity_provider, "error", str(error))

    changed = metadata.xml != identity_provider.metadata_xml
    summary = describe_changes(identity_provider.metadata_xml, metadata) if changed else ""
    with transaction.atomic():
        apply(identity_provider, metadata, fetched)
        identity_provider.save()
        if changed:
            record_change(identity_provider, url, summary)
    return RefreshResult(identity_provider, "updated" if changed else "unchanged", summary)
