"""The settings saml_idps reads, with their defaults. Every one is optional.

SAML_IDPS_POLICY
    Dotted path of the IdentityPolicy class (policy.py) that decides who signs in and what they
    become ("saml_idps.policy.IdentityPolicy"); subclass it to change one decision.
SAML_IDPS_BASE_URL
    Scheme and host under which the SP's URLs are published (``https://sso.example.com``).
    ``None`` builds them from the request's host, which ``ALLOWED_HOSTS`` guards.
SAML_IDPS_SP_KEY_FILE, SAML_IDPS_SP_CERT_FILE
    Paths of the SP's private key and certificate (PEM).
SAML_IDPS_SP_KEY_PEM, SAML_IDPS_SP_CERT_PEM
    The SP's private key and certificate as PEM text, instead of files.
SAML_IDPS_SP_KEY_DIR
    With neither files nor PEM text, a key pair is generated into this folder (default
    BASE_DIR/var/sp_keys), and a system check warns in production.
SAML_IDPS_SP_NEXT_KEY_FILE, SAML_IDPS_SP_NEXT_CERT_FILE
    The next key pair during a rollover: published and used for decryption before it replaces
    the current one.
SAML_IDPS_METADATA_ALLOW_INSECURE
    Allow ``http://`` metadata URLs and loopback/private hosts. Always allowed when DEBUG is on.
SAML_IDPS_METADATA_MAX_BYTES
    Largest metadata document accepted (5 MiB).
SAML_IDPS_METADATA_TIMEOUT
    ``(connect, read)`` timeout in seconds for fetching metadata.
SAML_IDPS_CONFIG_CACHE_SIZE
    How many built pysaml2 configurations (one per IdP) each process keeps (1000).
SAML_IDPS_CRYPTO_BACKEND
    What checks XML signatures and decrypts: ``"xmlsec"`` (default), libxmlsec1 in process through
    the ``xmlsec`` package, with the schema check of signed elements by libxml2; or ``"xmlsec1"``,
    pysaml2's own backend running the xmlsec1 program, with its pure-Python schema check.
SAML_IDPS_MAX_RESPONSE_BYTES
    Largest SAMLResponse accepted at an ACS, base64 as posted (512 KiB).
SAML_IDPS_MAX_MESSAGE_AGE
    Seconds after its IssueInstant that a response or assertion is still accepted (3600).
SAML_IDPS_REPLAY_WINDOW
    Seconds a consumed assertion ID is remembered when the assertion states no NotOnOrAfter.
SAML_IDPS_AUDIT_RETENTION_DAYS
    Login attempts older than this many days are deleted by ``prune_saml_audit_log`` (365).
SAML_IDPS_HOME_LIST_LIMIT
    The home page lists at most this many IdPs; with more, it offers search and discovery (20).
SAML_IDPS_DEMO_KEY_DIR
    Where the optional demo IdP (``saml_idps.demo_idp``, development only) keeps its generated
    key pair (default BASE_DIR/var/demo_idp).
SAML_IDPS_SCIM_MAX_FAILURES, SAML_IDPS_SCIM_FAILURE_WINDOW
    A client that sends this many requests without a valid token to one IdP's SCIM service
    within this many seconds is answered 429 until the window has passed (10, 300).
SAML_IDPS_CERTIFICATE_WARNING_DAYS
    The system check warns about IdP signing certificates expiring within this many days (30).
"""

from django.conf import settings

DEFAULTS = {
    "POLICY": "saml_idps.policy.IdentityPolicy",
    "BASE_URL": None,
    "SP_KEY_FILE": None,
    "SP_CERT_FILE": None,
    "SP_KEY_PEM": None,
    "SP_CERT_PEM": None,
    "SP_KEY_DIR": None,
    "SP_NEXT_KEY_FILE": None,
    "SP_NEXT_CERT_FILE": None,
    "METADATA_ALLOW_INSECURE": False,
    "METADATA_MAX_BYTES": 5 * 1024 * 1024,
    "METADATA_TIMEOUT": (5, 15),
    "CONFIG_CACHE_SIZE": 1000,
    "CRYPTO_BACKEND": "xmlsec",
    "MAX_RESPONSE_BYTES": 512 * 1024,
    "MAX_MESSAGE_AGE": 3600,
    "REPLAY_WINDOW": 24 * 60 * 60,
    "CERTIFICATE_WARNING_DAYS": 30,
    "AUDIT_RETENTION_DAYS": 365,
    "HOME_LIST_LIMIT": 20,
    "DEMO_KEY_DIR": None,
    "SCIM_MAX_FAILURES": 10,
    "SCIM_FAILURE_WINDOW": 300,
}


def app_setting(name):
    """The value of ``SAML_IDPS_<name>``, or its documented default."""
    return getattr(settings, f"SAML_IDPS_{name}", DEFAULTS[name])


def metadata_allow_insecure():
    return settings.DEBUG or bool(app_setting("METADATA_ALLOW_INSECURE"))
