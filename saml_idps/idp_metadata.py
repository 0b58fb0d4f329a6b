"""What an IdP's metadata document says, checked: one SAML 2.0 IdP, its signing certificates
and endpoints, its validity, and the verdict on its signature. No network, no database writes.
"""

import base64
import binascii
import calendar
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import ParseError

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.utils import timezone
from saml2 import md
from saml2.attribute_converter import ac_factory
from saml2.mdstore import InMemoryMetaData
from saml2.sigver import CryptoBackendXmlSec1, SigverError, get_xmlsec_binary
from saml2.time_util import add_duration, str_to_time

from . import crypto
from .conf import app_setting
from .models import IdentityProvider

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
