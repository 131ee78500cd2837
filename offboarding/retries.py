"""Automatic retries: a case that failed on a passing outage is tried again by itself, at the failed step.

A timeout, a refused or dropped connection, a 5xx or a 429 that outlasted the clients' own retries is an
outage, not a verdict (each failed step records whether its error was one, `Step.detail["transient"]`).
Such a case is retried every AUTO_RETRY_EVERY_MINUTES for AUTO_RETRY_FOR_MINUTES after it first failed:
`run_due` (every minute) asks for each retry as `system:auto_retry`, and the step engine resumes at the
failed step. When the period is over the case stays failed and the alert list is told. A permanent error
(any other 4xx, an answer we cannot use, a verification that found something left) is never retried
blindly: it waits for a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from offboarding.alerts import send_alert
from offboarding.models import Actor, AuditEvent, Case, Step

AUTO_RETRY = Actor.system("auto_retry")


@dataclass
class Outlook:
    """What comes next for a failed case: its audit event (by `system:auto_retry`) and a sentence for the alert."""

    action: str
    sentence: str
    after: dict[str, Any] = field(default_factory=dict)
    alert: bool = True


def every() -> timedelta:
    return timedelta(minutes=settings.AUTO_RETRY_EVERY_MINUTES)


def period() -> timedelta:
    return timedelta(minutes=settings.AUTO_RETRY_FOR_MINUTES)


def is_transient(step: Step) -> bool:
    """Whether the step failed on a passing outage: as its client classed the error (by the HTTP status for a
    step recorded before steps said so)."""
    if "transient" in step.detail:
        return bool(step.detail["transient"])
    return step.http_status == 429 or (step.http_status or 0) >= 500


def permanent_failures(failed: list[Step]) -> list[Step]:
    """The failed steps a retry would only meet again.

    A verification that found what other failed steps left behind follows from them, and runs again after
    them; a verification that found something wrong on its own is the verdict.
    """
    causes = [s for s in failed if s.kind != Step.Kind.VERIFY] or failed
    return [s for s in causes if not is_transient(s)]


def after_failure(case: Case, failed: list[Step], now: datetime) -> Outlook:
    """Set the failed case's next automatic retry, or none (the caller saves the case), and say so."""
    permanent = permanent_failures(failed)
    if permanent or not settings.AUTO_RETRY_FOR_MINUTES:
        case.retry_at = case.retry_until = None
        if permanent:
            why = "; ".join(f"{s}: {answer(s)}" for s in permanent)
            sentence = f"Not retried automatically ({why}): it would fail the same way. Retry by hand once fixed."
        else:
            why = "automatic retries are switched off (AUTO_RETRY_FOR_MINUTES=0)"
            sentence = f"Not retried automatically: {why}. Retry by hand once the vendor answers again."
        return Outlook("case.retry_not_scheduled", sentence, {"reason": why})
    continuing = case.retry_until is not None
    case.retry_until = case.retry_until or now + period()
    if now + every() > case.retry_until:
        return exhausted(case)
    case.retry_at = now + every()
    return Outlook(
        "case.retry_scheduled",
        f"A passing outage: retried automatically every {settings.AUTO_RETRY_EVERY_MINUTES} minutes, "
        f"resuming at the failed step, until {case.retry_until:%Y-%m-%d %H:%M} UTC.",
        {"at": case.retry_at, "until": case.retry_until, "transient": [str(s) for s in failed if is_transient(s)]},
        # One alert for the outage, not one per retry; the retries are in the audit trail.
        alert=not continuing,
    )


def exhausted(case: Case) -> Outlook:
    """The period is over: no more automatic retries (the caller saves the case)."""
    case.retry_at = None
    since = case.retry_until - period()
    return Outlook(
        "case.retries_exhausted",
        f"Automatic retries exhausted: retried every {settings.AUTO_RETRY_EVERY_MINUTES} minutes since "
        f"{since:%Y-%m-%d %H:%M} UTC until {case.retry_until:%H:%M} UTC; the case stays failed. "
        "Retry it by hand once the vendor answers again.",
        {"until": case.retry_until},
    )


def record(case: Case, outlook: Outlook) -> None:
    AuditEvent.record(outlook.action, actor=AUTO_RETRY, case=case, after={"outlook": outlook.sentence, **outlook.after})


def due(now: datetime) -> list[int]:
    """The failed cases whose automatic retry is due, the longest waiting first."""
    return list(
        Case.objects.filter(state=Case.State.FAILED, retry_at__lte=now)
        .order_by("retry_at")
        .values_list("pk", flat=True)
    )


def give_up_if_over(case_id: int, now: datetime) -> bool:
    """A due case whose period is over stays failed: recorded and alerted once. Whether it was over."""
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.state != Case.State.FAILED or case.retry_until is None or now < case.retry_until:
            return False
        outlook = exhausted(case)
        case.save(update_fields=["retry_at", "updated_at"])
        record(case, outlook)
    send_alert(
        f"Case {case.pk} still FAILED: {case.person_name}",
        f"{outlook.sentence}\n\n{case.failure_summary}\n\n{case.site_url}",
    )
    return True


def answer(step: Step) -> str:
    """The vendor's answer to a failed step, in short."""
    said = " ".join(str(x) for x in (f"HTTP {step.http_status}" if step.http_status else "", step.vendor_code) if x)
    return said or step.detail.get("error", "failed")[:200]
