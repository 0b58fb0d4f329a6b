"""Fetch, check and store IdP metadata. The only module of saml_idps that touches the network.

It runs when an admin saves an IdP or a command refreshes one, never during a login: a login
reads the last good copy from the database.
"""

import base64
import binascii
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

import requests
from cryptography import x509
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.utils import timezone
from saml2.attribute_converter import ac_factory
from saml2.mdstore import InMemoryMetaData

from .conf import app_setting, metadata_allow_insecure

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"


class MetadataError(Exception):
    """Metadata that cannot be used. The message is written for the admin who has to fix it."""


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    xml: str
    signing_certificates: tuple[x509.Certificate, ...]


def load_from_url(url):
    """Fetch and check the metadata at ``url``."""
    return parse(fetch(url))


def apply(identity_provider, metadata, source_url=""):
    """Make ``metadata`` the IdP's last good copy (the caller saves the row)."""
    identity_provider.entity_id = metadata.entity_id
    identity_provider.metadata_xml = metadata.xml
    identity_provider.last_error = ""
    if source_url:
        identity_provider.metadata_fetched_at = timezone.now()


def fetch(url):
    """The body at ``url``: checked scheme and host, no redirects, timeouts and a size cap."""
    check_url(url)
    connect_timeout, read_timeout = app_setting("METADATA_TIMEOUT")
    deadline = time.monotonic() + connect_timeout + read_timeout
    try:
        with requests.get(
            url,
            stream=True,
            allow_redirects=False,
            timeout=(connect_timeout, read_timeout),
            headers={"Accept": "application/samlmetadata+xml, application/xml, text/xml"},
        ) as response:
            if response.is_redirect:
                raise MetadataError(
                    f"The server redirects to {response.headers.get('Location', '?')}: "
                    "enter the final metadata URL instead."
                )
            if response.status_code != 200:
                raise MetadataError(f"The server answered HTTP {response.status_code}.")
            return read_capped(response, deadline)
    except requests.Timeout as exc:
        raise MetadataError("The metadata server did not answer in time.") from exc
    except requests.RequestException as exc:
        raise MetadataError(f"Could not fetch the metadata: {exc.__class__.__name__}.") from exc


def read_capped(response, deadline):
    """The decoded body, refused once it grows past the size cap or the deadline passes."""
    limit = app_setting("METADATA_MAX_BYTES")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise MetadataError(f"The metadata is larger than the {limit} byte limit.")
    body = bytearray()
    for chunk in response.iter_content(chunk_size=64 * 1024):
        body.extend(chunk)
        if len(body) > limit:
            raise MetadataError(f"The metadata is larger than the {limit} byte limit.")
        if time.monotonic() > deadline:
            raise MetadataError("The metadata server did not answer in time.")
    return bytes(body)


def check_url(url):
    """Refuse URLs we must not fetch: other schemes, credentials, and (in production) plain
    http and hosts on loopback, private, link-local or otherwise non-public addresses."""
    parts = urlsplit(url)
    insecure_ok = metadata_allow_insecure()
    allowed_schemes = {"https", "http"} if insecure_ok else {"https"}
    if parts.scheme not in allowed_schemes:
        raise MetadataError(
            "The metadata URL must start with https://"
            + ("" if insecure_ok else " (plain http is allowed only in development).")
        )
    if parts.username or parts.password or "@" in parts.netloc:
        raise MetadataError("The metadata URL must not contain a user name or password.")
    if not parts.hostname:
        raise MetadataError("The metadata URL has no host.")
    if insecure_ok:
        return
    for address in resolve(parts.hostname, parts.port or 443):
        if not is_public(address):
            raise MetadataError(
                f"The metadata host {parts.hostname} resolves to {address}, which is not a "
                "public address."
            )


def resolve(hostname, port):
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise MetadataError(f"The metadata host {hostname} could not be resolved.") from exc
    return {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}


def is_public(address):
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse(document):
    """Check an IdP metadata document and return what we keep of it.

    It must be one EntityDescriptor with a SAML 2.0 IDPSSODescriptor, a SingleSignOnService and
    at least one signing certificate, and pysaml2 must load it as it will at login.
    """
    data = document.encode() if isinstance(document, str) else document
    if len(data) > app_setting("METADATA_MAX_BYTES"):
        raise MetadataError("The metadata is larger than the size limit.")
    try:
        root = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MetadataError("The metadata contains a DOCTYPE or entities; refused.") from exc
    except ParseError as exc:
        raise MetadataError(f"The document is not well-formed XML ({exc}).") from exc

    if root.tag == f"{{{NS_MD}}}EntitiesDescriptor":
        raise MetadataError(
            "The document is an aggregate of several entities (EntitiesDescriptor); "
            "use the metadata URL of this one IdP."
        )
    if root.tag != f"{{{NS_MD}}}EntityDescriptor":
        raise MetadataError("The document is not SAML 2.0 metadata (no EntityDescriptor).")
    entity_id = (root.get("entityID") or "").strip()
    if not entity_id:
        raise MetadataError("The EntityDescriptor has no entityID.")

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

    certificates = tuple(signing_certificates(idp))
    if not certificates:
        raise MetadataError("The identity provider publishes no signing certificate.")

    xml = data.decode("utf-8")
    check_pysaml2_loads(xml, entity_id)
    return IdpMetadata(entity_id=entity_id, xml=xml, signing_certificates=certificates)


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


def check_pysaml2_loads(xml, entity_id):
    store = InMemoryMetaData(ac_factory(), xml)
    try:
        store.load()
    except Exception as exc:  # pysaml2 raises many types for invalid metadata
        raise MetadataError(f"pysaml2 cannot load the metadata: {exc}") from exc
    if entity_id not in store.entity:
        raise MetadataError("pysaml2 found no usable entity in the metadata.")
