"""The bearer tokens an IdP's SCIM client authenticates with.

A token is 256 random bits, shown once when it is made and kept only as its SHA-256 (a key
derivation function would add nothing to a secret that cannot be guessed). It is checked
against the live tokens of the one IdP whose URL was called, in constant time, so a token
of IdP A never opens IdP B's service.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..models import ScimToken

# How often a token's last use is written: enough to tell a live token from a forgotten one.
LAST_USED_PRECISION = timedelta(minutes=1)


def digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(identity_provider, label=""):
    """A new token for the IdP's SCIM client. Returns the token itself, which is not kept:
    whoever made it must paste it into the IdP now."""
    secret = secrets.token_urlsafe(32)
    ScimToken.objects.create(
        identity_provider=identity_provider,
        label=label,
        hint=secret[:8],
        secret_hash=digest(secret),
    )
    return secret


def live_token(identity_provider, authorization):
    """The live token of ``identity_provider`` that an ``Authorization: Bearer ...`` header
    carries, or None (SCIM off for the IdP, no bearer token, or none of its live tokens)."""
    scheme, _, secret = (authorization or "").partition(" ")
    if not identity_provider.scim_enabled or scheme.lower() != "bearer" or not secret:
        return None
    wanted = digest(secret)
    found = None
    for token in identity_provider.scim_tokens.filter(revoked_at__isnull=True):
        # Every live token is compared, all in full: the time taken says nothing of which matched.
        if hmac.compare_digest(token.secret_hash, wanted):
            found = token
    if found is not None:
        now = timezone.now()
        ScimToken.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION),
            pk=found.pk,
        ).update(last_used_at=now)
    return found


def revoke(token):
    """Refuse ``token`` from now on (it stays listed, with when it was revoked)."""
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
