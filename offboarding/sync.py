"""Sync: the Workday terminations report (or one worker's rows) to Terminations and their Cases.

Running it twice in a row changes nothing and records nothing new. Each new case is looked up in
Okta, assessed, and offered to the auto-approve rules as soon as its lookup is back; the breaker
counts the new terminations first. A case whose lookup failed is looked up again at the next sync.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from offboarding.alerts import send_alert
from offboarding.breaker import check_breaker
from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OktaClient
from offboarding.clients.workday import WorkdayClient
from offboarding.decisions import fire_rules
from offboarding.identity import assess_case, look_up
from offboarding.models import (
    Actor,
    AuditEvent,
    Case,
    ReportRowError,
    SafetySettings,
    Termination,
    dates_in,
)

SYNC = Actor.system("sync_workday")


class SuspectReport(Exception):
    """The whole report came back empty right after one with many rows: not trusted, nothing changed."""


@dataclass
class SyncResult:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    row_errors: int = 0
    breaker_tripped: bool = False
    looked_up_again: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.cancelled)


def sync_workday(*, employee_id: str | None = None, actor: Actor = SYNC, accept_empty: bool = False) -> SyncResult:
    """Read the terminations report (or one worker's rows) and bring Terminations and Cases up to date.

    Running it twice in a row changes nothing and records nothing new. An empty whole report right
    after one with many rows raises SuspectReport (audited, alerted) unless `accept_empty`.
    """
    report = WorkdayClient.from_settings().fetch_terminations(employee_id)
    if employee_id is None:
        _check_report_size(report, accept_empty=accept_empty)
    records = [r for r in report.terminations if employee_id is None or r.employee_id == employee_id]
    result = SyncResult(row_errors=_keep_row_errors(report.row_errors, whole_report=employee_id is None))
    for record in records:
        case_id, change = _apply_record(record, actor)
        if change == "created":
            result.created.append(case_id)
        elif change == "updated":
            result.updated.append(case_id)
        elif change == "cancelled":
            result.cancelled.append(case_id)

    if result.created:
        result.breaker_tripped = check_breaker(len(result.created))
        okta = OktaClient.from_settings()
        opened = Case.objects.select_related("termination").in_bulk(result.created)
        # A layoff opens thousands of cases at once: their Okta lookups go several at a time while
        # each case, in order, is assessed and decided as soon as its lookup is back.
        with ThreadPoolExecutor(max_workers=settings.REVOCATION_PARALLEL_CALLS) as pool:
            lookups = pool.map(lambda case_id: look_up(opened[case_id].termination, okta), result.created)
            for case_id, lookup in zip(result.created, lookups, strict=True):
                assess_case(case_id, okta=okta, actor=actor, lookup=lookup)
                fire_rules(case_id)
    result.looked_up_again = _look_up_unresolved(employee_id, actor, skip=result.created)
    return result


def _look_up_unresolved(employee_id: str | None, actor: Actor, skip: list[int]) -> list[int]:
    """Look up again the cases whose Okta lookup failed before: a failed lookup is no answer, so they
    must not stay "not looked up yet". Several at a time; while Okta fails every one, the rest wait."""
    unresolved = Case.objects.filter(
        kind=Case.Kind.WORKDAY, identity=Case.Identity.UNRESOLVED, state__in=Case.DECIDABLE_STATES
    ).exclude(pk__in=skip)
    if employee_id is not None:
        unresolved = unresolved.filter(termination__employee_id=employee_id)
    cases = list(unresolved.select_related("termination").order_by("pk"))
    if not cases:
        return []
    okta, size, done = OktaClient.from_settings(), settings.REVOCATION_PARALLEL_CALLS, []
    with ThreadPoolExecutor(max_workers=size) as pool:
        for batch in (cases[i : i + size] for i in range(0, len(cases), size)):
            lookups = list(pool.map(lambda case: look_up(case.termination, okta), batch))
            for case, lookup in zip(batch, lookups, strict=True):
                assess_case(case.pk, okta=okta, actor=actor, lookup=lookup)
                fire_rules(case.pk)
                done.append(case.pk)
            if all(isinstance(lookup, VendorError) for lookup in lookups):
                break
    return done


def _check_report_size(report, *, accept_empty: bool) -> None:
    """Refuse an empty report after a full one; otherwise remember how many rows this one had."""
    rows = len(report.terminations) + len(report.row_errors)
    safety = SafetySettings.load()
    previous = safety.last_report_rows
    threshold = safety.empty_report_suspect_from
    if rows == 0 and not accept_empty and threshold and previous is not None and previous >= threshold:
        message = (
            f"The Workday terminations report came back empty; the last one had {previous} rows "
            f"({safety.last_report_at:%Y-%m-%d %H:%M} UTC). Treated as a broken report: nothing was changed. "
            "If nobody is terminated any more, run `manage.py sync_workday --accept-empty-report` once."
        )
        with transaction.atomic():
            AuditEvent.record(
                "workday.report_suspect", actor=SYNC, obj=safety, after={"rows": 0, "previous_rows": previous}
            )
        send_alert("Workday report empty: refused as suspect", message)
        raise SuspectReport(message)
    SafetySettings.objects.filter(pk=safety.pk).update(last_report_rows=rows, last_report_at=timezone.now())


def _keep_row_errors(row_errors: list, whole_report: bool = True) -> int:
    """Keep each bad row until it goes away; a row already known is only touched, not recorded again.

    Only the whole report can say that a bad row has gone away.
    """
    now = timezone.now()
    seen = []
    for error in row_errors:
        raw = json.dumps(error.raw, sort_keys=True, default=str)
        fingerprint = hashlib.sha256(f"{error.reason}|{raw}".encode()).hexdigest()
        seen.append(fingerprint)
        # Kept as received, but storable anywhere: a row that is not an object is wrapped, NULs replaced.
        stored = _storable(error.raw if isinstance(error.raw, dict) else {"row": error.raw})
        row, created = ReportRowError.objects.get_or_create(
            fingerprint=fingerprint,
            defaults={
                "employee_id": _storable(error.employee_id or "")[:64],
                "reason": _storable(error.reason),
                "raw": stored,
            },
        )
        if created:
            AuditEvent.record("workday.row_error", actor=SYNC, obj=f"row {error.index}", after={"reason": error.reason})
        else:
            ReportRowError.objects.filter(pk=row.pk).update(last_seen=now, resolved_at=None)
    if whole_report:
        ReportRowError.objects.filter(resolved_at=None).exclude(fingerprint__in=seen).update(resolved_at=now)
    return len(row_errors)


def _storable(value):
    """A JSON value every database takes: PostgreSQL refuses NUL characters in text and jsonb."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    return value


def _fields_of(record) -> dict:
    return {f: getattr(record, f) for f in Termination.TRACKED_FIELDS}


def _current_termination(employee_id: str, termination_date) -> Termination | None:
    """The termination a report row describes: the one still open, or the one on that date."""
    for termination in Termination.objects.filter(employee_id=employee_id).order_by("-first_seen"):
        cases = list(termination.cases.all())
        if termination.termination_date == termination_date or any(c.state in Case.OPEN_STATES for c in cases):
            return termination
    return None


@transaction.atomic
def _apply_record(record, actor: Actor) -> tuple[int | None, str]:
    # One record at a time across processes (the scheduled sync and a push may see the same worker):
    # without this, both could find no termination and each open a case.
    SafetySettings.objects.select_for_update().get(pk=SafetySettings.load().pk)
    values = _fields_of(record)
    termination = _current_termination(record.employee_id, record.termination_date)
    if termination is None:
        if record.rescinded:
            return None, ""  # Rescinded before we ever saw it: nothing to do.
        termination = Termination.objects.create(employee_id=record.employee_id, raw=record.raw, **values)
        case = Case.objects.create(termination=termination, state=Case.State.PENDING_REVIEW)
        _set_effective_moment(case)
        case.save()
        AuditEvent.record("termination.received", actor=actor, case=case, obj=termination, after=dates_in(values))
        AuditEvent.record(
            "case.opened", actor=actor, case=case, after={"state": case.state, "effective_at": case.effective_at}
        )
        return case.pk, "created"

    before = termination.tracked_values()
    Termination.objects.filter(pk=termination.pk).update(last_seen=timezone.now())
    if before == values:
        return None, ""

    changed = {k: v for k, v in values.items() if before[k] != v}
    for name, value in changed.items():
        setattr(termination, name, value)
    termination.raw = record.raw
    termination.save()
    case = termination.cases.select_for_update().order_by("-created_at").first()
    AuditEvent.record(
        "termination.corrected",
        actor=actor,
        case=case,
        obj=termination,
        before=dates_in({k: before[k] for k in changed}),
        after=dates_in(changed),
    )
    if case is None:
        return None, "updated"
    if changed.get("rescinded"):
        return case.pk, _rescind(case, actor)
    if case.state in Case.OPEN_STATES:
        old = case.effective_at
        _set_effective_moment(case)
        if case.effective_at != old:
            case.save()
            AuditEvent.record(
                "case.rescheduled",
                actor=actor,
                case=case,
                before={"effective_at": old},
                after={"effective_at": case.effective_at},
            )
    return case.pk, "updated"


def _rescind(case: Case, actor: Actor) -> str:
    if case.state in Case.OPEN_STATES and case.started_at is None:
        case.attention_reason = ""
        case.move_to(Case.State.CANCELLED, actor, after={"reason": "rescinded in Workday"})
        return "cancelled"
    if case.state in (Case.State.REJECTED, Case.State.CANCELLED):
        return "updated"
    case.attention_reason = "Rescinded in Workday after access was revoked — restore?"
    case.move_to(Case.State.NEEDS_ATTENTION, actor, after={"reason": case.attention_reason})
    send_alert(
        f"Case {case.pk} needs attention",
        f"{case.person_name}: {case.attention_reason}\n{case.site_url}",
    )
    return "updated"


def _set_effective_moment(case: Case) -> None:
    """Immediate for an involuntary termination when so configured, else per the configured mode."""
    safety = SafetySettings.load()
    termination = case.termination
    if termination.is_involuntary and safety.involuntary_immediately:
        case.immediate = True
    if case.immediate:
        case.effective_at = case.effective_at or termination.first_seen
    else:
        case.effective_at = termination.effective_moment(safety.effective_mode)
