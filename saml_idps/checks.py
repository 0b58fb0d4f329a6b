from datetime import datetime, timedelta

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.db import DatabaseError
from django.utils import timezone
from saml2.sigver import SigverError, get_xmlsec_binary

from .conf import app_setting


@register()
def check_xmlsec1(app_configs, **kwargs):
    """pysaml2 verifies every signature by running the xmlsec1 program."""
    try:
        get_xmlsec_binary()
    except SigverError:
        return [
            Error(
                "The xmlsec1 program is not installed, so no SAML signature can be checked.",
                hint="Debian/Ubuntu: apt-get install xmlsec1; macOS: brew install libxmlsec1.",
                id="saml_idps.E001",
            )
        ]
    return []


@register()
def check_certificate_expiry(app_configs, **kwargs):
    """Warn about IdP signing certificates that expire soon: once one has, its IdP's signed
    responses no longer verify unless its metadata brought a successor."""
    from .models import IdentityProvider

    limit = timezone.now() + timedelta(days=app_setting("CERTIFICATE_WARNING_DAYS"))
    try:
        expiring = list(
            IdentityProvider.objects.filter(enabled=True, certificates_expire_at__lt=limit)
        )
    except DatabaseError:  # not migrated yet: nothing to warn about
        return []
    return [
        Warning(
            f"A signing certificate of IdP '{idp.slug}' expires on {c['not_after'][:10]}: "
            f"{c['subject']} (SHA-256 {c['sha256']}).",
            hint="Ask the IdP's admin for its new certificate, then refresh the IdP's metadata.",
            obj=idp,
            id="saml_idps.W001",
        )
        for idp in expiring
        for c in idp.signing_certificates
        if datetime.fromisoformat(c["not_after"]) < limit
    ]


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
            hint="Set SAML_SP_KEY_FILE and SAML_SP_CERT_FILE (or SAML_SP_KEY_PEM and "
            "SAML_SP_CERT_PEM) to the key pair the IdPs know.",
            id="saml_idps.W002",
        )
    ]
