"""Consumed assertions: each assertion ID is recorded once, so a replayed response is refused
on every instance sharing the database; rows are pruned once the assertion is past use."""

import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .conf import app_setting
from .models import ConsumedAssertion
from .refusals import LoginRefused
from .response_checks import check_fits, instant

# Expired replay rows are deleted at most this often (seconds) by each process, and daily by
# prune_saml_audit_log: not on every login, where the DELETE would cost a transaction.
PRUNE_INTERVAL = 60
_last_prune = float("-inf")


def consume_assertions(response, identity_provider):
    """Record each assertion ID as used; one already recorded is a replay.

    The unique constraint in the shared database makes this atomic across processes and
    instances; rows are pruned once the assertion could no longer be accepted anyway.
    """
    if time.monotonic() - _last_prune > PRUNE_INTERVAL:
        prune_consumed_assertions()
    for assertion in response.assertions:
        issuer = assertion.issuer.text.strip()
        check_fits(assertion.id, ConsumedAssertion, "assertion_id", "assertion ID")
        try:
            with transaction.atomic():
                ConsumedAssertion.objects.create(
                    issuer=issuer,
                    assertion_id=assertion.id,
                    expires_at=replay_expiry(assertion, identity_provider.clock_skew),
                )
        except IntegrityError:
            raise LoginRefused(
                "replay",
                "This sign-in response was already used. Sign in again from the start.",
            ) from None


def prune_consumed_assertions():
    """Delete the replay rows of assertions that could no longer be accepted; returns how many."""
    global _last_prune
    _last_prune = time.monotonic()
    deleted, _ = ConsumedAssertion.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def replay_expiry(assertion, clock_skew):
    """When the assertion can no longer pass pysaml2's time checks: its latest NotOnOrAfter
    plus the clock skew (or the replay window when it states none)."""
    limits = [
        confirmation.subject_confirmation_data.not_on_or_after
        for confirmation in assertion.subject.subject_confirmation
        if confirmation.subject_confirmation_data is not None
    ]
    if assertion.conditions is not None:
        limits.append(assertion.conditions.not_on_or_after)
    if not any(limits):
        return timezone.now() + timedelta(seconds=app_setting("REPLAY_WINDOW"))
    return max(instant(limit) for limit in limits if limit) + timedelta(seconds=clock_skew)
