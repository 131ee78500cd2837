"""The mass-termination breaker: when too many people leave at once, auto-approval pauses and humans decide.

It counts over a sliding window, across polls and pushes alike, and stays tripped until an admin resets it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from offboarding.alerts import send_alert
from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OktaClient
from offboarding.models import Actor, AuditEvent, Case, SafetySettings

log = logging.getLogger(__name__)

SYNC = Actor.system("sync_workday")
POPULATION_RECOUNT = timedelta(hours=24)
# A handful of leavers is an ordinary day even in a small org: the share threshold counts from here.
SHARE_APPLIES_FROM = 5


def check_breaker(new_in_this_sync: int, pending: int = 0) -> bool:
    """Trip the breaker when too many new terminations arrive within the window; True while it is tripped.

    The count is of the cases Workday opened over the last `breaker_window_minutes`, this sync's
    included, whether they came in one report or one push each: thirty pushes are the same burst
    as a report of thirty. `pending`: this sync's cases not stored yet (the sync judges the burst first).
    """
    safety = SafetySettings.load()
    if safety.breaker_tripped:
        return True
    count = new_terminations_in_window(safety) + pending
    where = (
        "in one sync"
        if count <= new_in_this_sync
        else f"within {safety.breaker_window_minutes} minutes, across syncs and pushes"
    )
    reason = ""
    if count > safety.breaker_count:
        reason = f"{count} new terminations {where} (threshold {safety.breaker_count})"
    elif count >= SHARE_APPLIES_FROM:
        population = active_population(safety)
        if population and count / population > safety.breaker_share:
            reason = (
                f"{count} new terminations {where} are {count / population:.1%} of "
                f"{population} active Okta users (threshold {safety.breaker_share:.1%})"
            )
    if reason:
        trip_breaker(reason)
        return True
    return False


def new_terminations_in_window(safety: SafetySettings) -> int:
    """Cases opened from Workday within the window; none from before the last reset (an admin has seen those)."""
    since = timezone.now() - timedelta(minutes=safety.breaker_window_minutes)
    if safety.breaker_reset_at and safety.breaker_reset_at > since:
        since = safety.breaker_reset_at
    return Case.objects.filter(kind=Case.Kind.WORKDAY, created_at__gte=since).count()


def active_population(safety: SafetySettings) -> int:
    """Active Okta users, counted again once a day."""
    stale = safety.active_population_counted_at is None or (
        timezone.now() - safety.active_population_counted_at > POPULATION_RECOUNT
    )
    if stale:
        try:
            safety.active_population = OktaClient.from_settings().count_active_users()
            safety.active_population_counted_at = timezone.now()
            safety.save(update_fields=["active_population", "active_population_counted_at"])
        except VendorError:
            log.warning("Could not count active Okta users; the share threshold uses the last count")
    return safety.active_population


@transaction.atomic
def trip_breaker(reason: str) -> None:
    safety = SafetySettings.objects.select_for_update().get(pk=SafetySettings.load().pk)
    if safety.breaker_tripped:
        return
    safety.breaker_tripped_at = timezone.now()
    safety.breaker_reason = reason
    safety.save()
    AuditEvent.record("safety.breaker_tripped", actor=SYNC, obj=safety, after={"reason": reason})
    send_alert("Mass-termination breaker tripped", f"Auto-approval is paused: {reason}. An admin must reset it.")
