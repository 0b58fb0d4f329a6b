"""A safe HTTP client for IdP metadata URLs: the only code of saml_idps on the network.

The URL's host is resolved once and every address checked; the connection goes to the checked
address with TLS verified for the URL's host name; no redirect, proxy or netrc; the body is
capped in size and time. Errors are MetadataError, worded for the admin who entered the URL.
"""

import ipaddress
import os
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.ssl_match_hostname import CertificateError

from .conf import app_setting, metadata_allow_insecure
from .idp_metadata import MetadataError

ACCEPT_METADATA = {"Accept": "application/samlmetadata+xml, application/xml, text/xml"}


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None: the server answered 304 Not Modified
    etag: str = ""
    last_modified: str = ""


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
    headers = {"Host": parts.netloc, **ACCEPT_METADATA}
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


# Words for people, like the messages pyproject.toml keeps from mutmut: it decides nothing.
# pragma: no mutate start
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


# pragma: no mutate end
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
        parts.port  # noqa: B018 - reading it checks it
    except ValueError as exc:
        raise MetadataError("The metadata URL has an invalid port.") from exc
    addresses = resolve(parts.hostname)
    if not insecure_ok:
        for address in addresses:
            if not is_public(address):
                raise MetadataError(
                    f"The metadata host {parts.hostname} resolves to {address}, which is not a "
                    "public address."
                )
    return parts.hostname, addresses[0]


def resolve(hostname):
    """Every address of ``hostname``, IPv4 first."""
    try:
        infos = socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
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
