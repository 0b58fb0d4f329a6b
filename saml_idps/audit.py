"""The login audit log: one LoginAttempt per response received at an ACS; and its pruning,
with the SCIM events'."""

from datetime import timedelta

from django.utils import timezone

from .conf import app_setting
from .models import LoginAttempt, ScimEvent


def record(request, identity_provider, outcome, reason="", detail="", user=None, response=None):
    """Log an attempt. ``response`` is pysaml2's AuthnResponse when it got that far; it names
    the subject and the assertion."""
    name_id = getattr(getattr(response, "name_id", None), "text", "") or ""
    assertion = getattr(response, "assertion", None)
    return LoginAttempt.objects.create(
        identity_provider=identity_provider,
        outcome=outcome,
        reason=reason,
        detail=detail,
        user=user,
        name_id=name_id[:512],
        assertion_id=(getattr(assertion, "id", "") or "")[:256],
        client_ip=request.META.get("REMOTE_ADDR") or None,
    )


def record_refusal(request, identity_provider, refusal, response=None):
    """Log a refused attempt with the refusal's reason code and message (and, labelled, what
    the message itself said)."""
    detail = str(refusal)
    if refusal.quoted:
        detail += f'\nThe identity provider\'s own message (unverified): "{refusal.quoted}"'
    if refusal.detail:
        detail += f"\nDetail: {refusal.detail}"
    return record(
        request,
        identity_provider,
        LoginAttempt.Outcome.FAILURE,
        refusal.code,
        detail,
        response=response,
    )


def prune():
    """Delete login attempts and SCIM events older than the retention period; returns how
    many."""
    cutoff = timezone.now() - timedelta(days=app_setting("AUDIT_RETENTION_DAYS"))
    return sum(
        model.objects.filter(created_at__lt=cutoff).delete()[0]
        for model in (LoginAttempt, ScimEvent)
    )
