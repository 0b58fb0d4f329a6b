from datetime import datetime, timedelta
from importlib.metadata import version

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError
from django.utils import timezone
from saml2.sigver import SigverError, get_xmlsec_binary

from . import crypto
from .conf import app_setting


@register()
def check_pysaml2_version(app_configs, **kwargs):
    return pysaml2_version_errors(version("pysaml2"))


def pysaml2_version_errors(installed):
    """crypto.py adapts pieces of pysaml2 (its correctly_signed_response, the arguments of its
    SecurityContext, the modules that look up security_context): written against one minor
    version, they must be read again against any other before it signs anyone in."""
    if installed.startswith(crypto.PYSAML2_VERSION):
        return []
    return [
        Error(
            f"pysaml2 {installed} is installed; saml_idps.crypto was written for pysaml2 "
            f"{crypto.PYSAML2_VERSION}x.",
            hint="Install the pysaml2 version requirements.txt pins, or compare crypto.py with "
            "the installed pysaml2 and update crypto.PYSAML2_VERSION.",
            id="saml_idps.E009",
        )
    ]


@register()
def check_crypto_backend(app_configs, **kwargs):
    """The xmlsec1 program is needed only when pysaml2's backend for it is chosen."""
    backend = app_setting("CRYPTO_BACKEND")
    if backend not in crypto.CHOICES:
        return [
            Error(
                f"SAML_IDPS_CRYPTO_BACKEND is {backend!r}.",
                hint=f"Choose one of {', '.join(map(repr, crypto.CHOICES))}.",
                id="saml_idps.E008",
            )
        ]
    if backend != crypto.XMLSEC1:
        return []
    try:
        get_xmlsec_binary()
    except SigverError:
        return [
            Error(
                "SAML_IDPS_CRYPTO_BACKEND is 'xmlsec1', but the xmlsec1 program is not "
                "installed, so no SAML signature can be checked.",
                hint="Install it (Debian/Ubuntu: apt-get install xmlsec1), or use the default "
                "backend 'xmlsec', which needs no program.",
                id="saml_idps.E001",
            )
        ]
    return []


@register(Tags.database)
def check_certificate_expiry(app_configs, databases=None, **kwargs):
    """Warn, once per IdP, about signing certificates that expire soon: once one has, its IdP's
    signed responses no longer verify unless its metadata brought a successor. It reads the
    database, so it runs where Django runs database checks (migrate, check --database)."""
    from .models import IdentityProvider

    if not databases:
        return []
    limit = timezone.now() + timedelta(days=app_setting("CERTIFICATE_WARNING_DAYS"))
    try:
        expiring = list(
            IdentityProvider.objects.filter(enabled=True, certificates_expire_at__lt=limit)
        )
    except DatabaseError:  # not migrated yet: nothing to warn about
        return []
    warnings = []
    for idp in expiring:
        soon = sorted(
            (c for c in idp.signing_certificates if datetime.fromisoformat(c["not_after"]) < limit),
            key=lambda c: c["not_after"],
        )
        if not soon:
            continue
        first = soon[0]
        others = f" and {len(soon) - 1} more" if len(soon) > 1 else ""
        warnings.append(
            Warning(
                f"IdP '{idp.slug}': signing certificate {first['subject']} expires on "
                f"{first['not_after'][:10]}{others}.",
                hint="Ask the IdP's admin for its new certificate, then refresh its metadata.",
                obj=idp,
                id="saml_idps.W001",
            )
        )
    return warnings


@register()
def check_sp_key_configured(app_configs, **kwargs):
    """In production the SP key should come from the deployment, not be generated on disk."""
    from . import keys

    if settings.DEBUG or keys.configured():
        return []
    return [
        Warning(
            "No SP key is configured, so one is generated in "
            f"{keys.key_folder()}. Every instance must share the same key.",
            hint="Set SAML_IDPS_SP_KEY_FILE and SAML_IDPS_SP_CERT_FILE (or SAML_IDPS_SP_KEY_PEM "
            "and SAML_IDPS_SP_CERT_PEM) to the key pair the IdPs know; samlsite reads them from "
            "the environment variables SAML_SP_KEY_FILE and SAML_SP_CERT_FILE.",
            id="saml_idps.W002",
        )
    ]


MIDDLEWARE = "saml_idps.middleware.SamlSessionMiddleware"
BACKEND = "saml_idps.backends.SamlIdentityBackend"
CONFIG_LOADER = "saml_idps.config.sp_config_for_request"


@register()
def check_host_settings(app_configs, **kwargs):
    """The settings a host project must have for saml_idps to work, each with its fix."""
    problems = []
    middleware = list(settings.MIDDLEWARE)
    if "djangosaml2" not in settings.INSTALLED_APPS:
        problems.append(
            Error(
                "djangosaml2 is not in INSTALLED_APPS.",
                hint="Add 'djangosaml2' to INSTALLED_APPS (its templates post the AuthnRequest).",
                id="saml_idps.E002",
            )
        )
    if MIDDLEWARE not in middleware:
        problems.append(
            Error(
                f"{MIDDLEWARE} is not in MIDDLEWARE.",
                hint="Add it right after django.contrib.sessions.middleware.SessionMiddleware "
                "(instead of djangosaml2's, whose cookie browsers drop over plain http).",
                id="saml_idps.E003",
            )
        )
    elif (
        "django.contrib.sessions.middleware.SessionMiddleware"
        not in middleware[: middleware.index(MIDDLEWARE)]
    ):
        problems.append(
            Error(
                f"{MIDDLEWARE} comes before SessionMiddleware.",
                hint="Move it right after django.contrib.sessions.middleware.SessionMiddleware.",
                id="saml_idps.E004",
            )
        )
    if BACKEND not in settings.AUTHENTICATION_BACKENDS:
        problems.append(
            Error(
                f"{BACKEND} is not in AUTHENTICATION_BACKENDS.",
                hint=f"Add '{BACKEND}' to AUTHENTICATION_BACKENDS.",
                id="saml_idps.E005",
            )
        )
    if getattr(settings, "SAML_CONFIG_LOADER", None) != CONFIG_LOADER:
        problems.append(
            Error(
                "SAML_CONFIG_LOADER does not point at saml_idps.",
                hint=f"Set SAML_CONFIG_LOADER = '{CONFIG_LOADER}'.",
                id="saml_idps.E006",
            )
        )
    if getattr(settings, "SAML_USE_NAME_ID_AS_USERNAME", False) is not True:
        problems.append(
            Error(
                "SAML_USE_NAME_ID_AS_USERNAME is not True: djangosaml2 would refuse every "
                "login whose assertion has no attribute mapped onto the username.",
                hint="Set SAML_USE_NAME_ID_AS_USERNAME = True (the NameID, with the IdP, is "
                "who signs in).",
                id="saml_idps.E010",
            )
        )
    if str(getattr(settings, "SAML_SESSION_COOKIE_SAMESITE", "None")).lower() != "none":
        problems.append(
            Warning(
                "SAML_SESSION_COOKIE_SAMESITE is not 'None': the IdP's cross-site POST to the "
                "ACS arrives without the pending request, and SP-initiated logins fail.",
                hint="Remove SAML_SESSION_COOKIE_SAMESITE from the settings.",
                id="saml_idps.W003",
            )
        )
    if settings.SESSION_COOKIE_SAMESITE in ("None", None) and not settings.SESSION_COOKIE_SECURE:
        problems.append(
            Error(
                "SESSION_COOKIE_SAMESITE is None but SESSION_COOKIE_SECURE is off: browsers "
                "drop that cookie.",
                hint="Use SESSION_COOKIE_SAMESITE = 'Lax' (the default).",
                id="saml_idps.E007",
            )
        )
    return problems
