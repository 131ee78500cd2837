"""Sync: the Workday terminations report (or one worker's rows) to Terminations and their Cases.

Running it twice in a row changes nothing and records nothing new. Each new case is looked up in
Okta, assessed, and offered to the auto-approve rules as soon as its lookup is back; the breaker
counts the new terminations first. A case whose lookup failed is looked up again at the next sync.
Then every case still undecided is offered to the rules too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from offboarding import health
from offboarding.alerts import send_alert
from offboarding.breaker import check_breaker
from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OktaClient
from offboarding.clients.workday import WorkdayClient
from offboarding.decisions import fire_rules, fire_rules_for_open_cases, sound_rules
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
    try:
        report = WorkdayClient.from_settings().fetch_terminations(employee_id)
        if employee_id is None:
            _check_report_size(report, accept_empty=accept_empty)
    except (VendorError, SuspectReport) as e:
        health.sync_failed(e)
        raise
    health.sync_succeeded()
    records = [r for r in report.terminations if employee_id is None or r.employee_id == employee_id]
    result = SyncResult(row_errors=_keep_row_errors(report.row_errors, whole_report=employee_id is None))
    # Read once a sync: a rule that cannot be evaluated is reported once, not once per case.
    rules = sound_rules()
    # The breaker judges the whole burst before any case of it is decided: the rows that will open a case
    # are counted first, so each case can then be looked up, decided and revoked while the rest are stored.
    opening = _rows_that_open_a_case(records)
    result.breaker_tripped = bool(opening) and check_breaker(len(opening), pending=len(opening))
    okta = _okta_for_lookups(whole_report=employee_id is None) if opening else None
    # A layoff opens thousands of cases at once: their Okta lookups go several at a time, in threads, while
    # the rows are still being stored; each case, in order, is assessed and decided as soon as its lookup
    # is back, so revocations start within seconds, not after the last row.
    with ThreadPoolExecutor(max_workers=settings.REVOCATION_PARALLEL_CALLS) as pool:
        lookups: deque[tuple[int, Future]] = deque()

        def decide_looked_up(wait: bool) -> None:
            while lookups and (wait or lookups[0][1].done()):
                case_id, lookup = lookups.popleft()
                assess_case(case_id, okta=okta, actor=actor, lookup=lookup.result())
                _check_conversion(case_id, lookup.result(), actor)
                fire_rules(case_id, rules)

        for record in records:
            case_id, change = _apply_record(record, actor)
            if change == "created":
                result.created.append(case_id)
                okta = okta or _okta_for_lookups(whole_report=employee_id is None)
                termination = Termination.objects.get(cases=case_id)
                lookups.append((case_id, pool.submit(look_up, termination, okta)))
            elif change == "updated":
                result.updated.append(case_id)
            elif change == "cancelled":
                result.cancelled.append(case_id)
            decide_looked_up(wait=False)
        decide_looked_up(wait=True)
    if len(result.created) > len(opening):  # more than counted (a row stored by a push meanwhile): judge again
        result.breaker_tripped = check_breaker(len(result.created))
    result.looked_up_again = _look_up_unresolved(employee_id, actor, skip=result.created)
    if employee_id is None:  # only the whole report can say a row has gone; a push is one worker's rows
        # After the lookups: looking a case up again judges its doubts afresh, which would drop this one.
        present = {r.employee_id for r in report.terminations} | {e.employee_id for e in report.row_errors}
        _check_vanished(present, actor)
    # Every case still undecided, not only the new ones: what a rule's preview lists is what it approves.
    fire_rules_for_open_cases(rules)
    return result


def _okta_for_lookups(whole_report: bool) -> OktaClient:
    """The client a sync looks its leavers up with. The whole report's lookups (a layoff's thousands) spend
    only the part of the Okta budget not reserved for revocations (OKTA_BUDGET_RESERVED_FOR_REVOCATION) and
    wait past it: they share endpoint families with the revocations of the people already decided, which
    would otherwise wait for the next window while the sync looks up people who cannot be revoked in this one.
    A push's lookup (one leaver, whose revocation waits on it) takes the whole budget."""
    return OktaClient.deferring_to_revocations() if whole_report else OktaClient.from_settings()


def _rows_that_open_a_case(records: list) -> list:
    """The report's rows that will open a case: a termination not stored yet (and not rescinded already).
    One query for the report, and one per row of a worker already known (a rehire, a correction)."""
    known: set[str] = set()
    ids = [r.employee_id for r in records]
    for start in range(0, len(ids), 1000):
        known.update(
            Termination.objects.filter(employee_id__in=ids[start : start + 1000]).values_list("employee_id", flat=True)
        )
    return [
        r
        for r in records
        if not r.rescinded
        and (r.employee_id not in known or _current_termination(r.employee_id, r.termination_date) is None)
    ]


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
    okta, size, done = _okta_for_lookups(employee_id is None), settings.REVOCATION_PARALLEL_CALLS, []
    with ThreadPoolExecutor(max_workers=size) as pool:
        for batch in (cases[i : i + size] for i in range(0, len(cases), size)):
            lookups = list(pool.map(lambda case: look_up(case.termination, okta), batch))
            for case, lookup in zip(batch, lookups, strict=True):
                assess_case(case.pk, okta=okta, actor=actor, lookup=lookup)  # the rules are offered it after
                _check_conversion(case.pk, lookup, actor)
                done.append(case.pk)
            if all(isinstance(lookup, VendorError) for lookup in lookups):
                break
    return done


def conversion_reason(login: str, employee_ids: list[str]) -> str:
    ids = " and ".join(sorted(employee_ids))
    return (
        f"Conversion? The Okta user {login} is one person under two Workday ids ({ids}): a contractor converted "
        "to an employee, or the other way round. A person decides which job ends, and whether this account goes."
    )


def _check_conversion(case_id: int, lookup, actor: Actor) -> None:
    """Two Workday ids for one Okta user go to a person, never to the rules: the Okta user's employee number
    is another id than the termination's (found by email or login), or another case under another id is
    already about the same Okta user (that one, if not started, goes to a person too)."""
    if isinstance(lookup, VendorError) or lookup.user is None:
        return
    case = Case.objects.select_related("termination").get(pk=case_id)
    employee_id = case.termination.employee_id
    ids = {employee_id}
    if lookup.user.employee_number and lookup.user.employee_number != employee_id:
        ids.add(lookup.user.employee_number)
    others = list(
        Case.objects.filter(okta_user_id=lookup.user.id)
        .exclude(pk=case_id)
        .exclude(termination=None)
        .exclude(termination__employee_id=employee_id)
        .select_related("termination")
    )
    ids.update(other.termination.employee_id for other in others)
    if len(ids) < 2:
        return
    reason = conversion_reason(lookup.user.login, list(ids))
    for subject in [case, *others]:
        _to_a_person(subject.pk, actor, reason, "case.conversion_suspected")


def _to_a_person(
    case_id: int,
    actor: Actor,
    reason: str,
    action: str,
    *,
    alert: bool = True,
    drop: frozenset[str] | set[str] = frozenset(),
) -> Case | None:
    """An open case not yet started to needs attention with `reason` (once; the lines in `drop` taken out),
    its decision and approvals withdrawn so nothing revokes it on schedule; alerted unless the caller does.
    The case, or None when it was not moved."""
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.state not in Case.OPEN_STATES or case.started_at or reason in case.attention_reason.splitlines():
            return None
        withdrawn = {}
        if case.state in Case.RUNNABLE_STATES:
            withdrawn = {
                "decision_withdrawn": case.decided_by.get_username() if case.decided_by else "",
                "rule": case.decided_by_rule.name if case.decided_by_rule else "",
                "approvers": list(case.approvals.values_list("user__username", flat=True)),
            }
            case.approvals.all().delete()
            case.decided_by = case.decided_by_rule = case.decided_at = None
            case.decision_reason = ""
        if case.state != Case.State.NEEDS_ATTENTION:
            case.attention_reason = ""
        case.attention_reason = _with_line(_without_lines(case.attention_reason, drop), reason)
        # Approvals withdrawn are recorded with the rest of the decision.
        case.move_to(
            Case.State.NEEDS_ATTENTION,
            actor,
            action,
            after={"reason": reason, **withdrawn},
            decision=Case.DECISION_FIELDS,
        )
    if alert:
        send_alert(f"Case {case.pk} needs attention", f"{case.person_name}: {case.attention_reason}\n{case.site_url}")
    return case


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


VANISHED = "No longer in Workday's report: rescinded or deleted? Approve it again or reject it."
BACK_IN_REPORT = "Back in Workday's report after it had vanished from it; the decision is still a person's."


def _check_vanished(present: set[str], actor: Actor) -> None:
    """An open case not yet started whose row the whole report should hold (its termination date inside
    the report's window, `WORKDAY_REPORT_WINDOW_DAYS`) and does not: Workday deleted or rescinded it
    without saying so, or lost it. It goes to a person, once (audited, alerted), its decision withdrawn so
    nothing revokes it on schedule; a row that comes back is said so on the case, the decision left to them.
    """
    since = timezone.now().date() - timedelta(days=settings.WORKDAY_REPORT_WINDOW_DAYS)
    open_cases = Case.objects.filter(
        kind=Case.Kind.WORKDAY,
        state__in=Case.OPEN_STATES,
        started_at=None,
        termination__rescinded=False,
        termination__termination_date__gte=since,
    )
    # Filtered here, not in SQL: a layoff's report holds more ids than a query may carry.
    vanished = [pk for pk, eid in open_cases.values_list("pk", "termination__employee_id") if eid not in present]
    flagged_now = []
    for case_id in vanished:
        case = _to_a_person(case_id, actor, VANISHED, "case.vanished_from_report", alert=False, drop={BACK_IN_REPORT})
        if case is not None:
            flagged_now.append(case)
    if flagged_now:  # one alert a sync, however many went: a report that lost a layoff is one event
        people = "\n".join(f"- {c.person_name}, case {c.pk} ({c.site_url})" for c in flagged_now)
        count = "1 case needs" if len(flagged_now) == 1 else f"{len(flagged_now)} cases need"
        send_alert(f"{count} attention: no longer in Workday's report", f"{VANISHED}\n{people}")
    flagged = Case.objects.filter(state=Case.State.NEEDS_ATTENTION, attention_reason__contains=VANISHED)
    for case_id in [pk for pk, eid in flagged.values_list("pk", "termination__employee_id") if eid in present]:
        with transaction.atomic():
            case = Case.objects.select_for_update().get(pk=case_id)
            if VANISHED not in case.attention_reason.splitlines():
                continue
            case.attention_reason = _with_line(_without_lines(case.attention_reason, {VANISHED}), BACK_IN_REPORT)
            case.save(update_fields=["attention_reason", "updated_at"])
            AuditEvent.record("case.back_in_report", actor=actor, case=case, after={"reason": BACK_IN_REPORT})


def _keep_row_errors(row_errors: list, whole_report: bool = True) -> int:
    """Keep each bad row until it goes away; a row already known is only touched, not recorded again.

    A new one is alerted, once (the same row again at the next poll is no news). Only the whole report can
    say that a bad row has gone away.
    """
    now = timezone.now()
    seen = []
    for error in row_errors:
        # ASCII JSON: a lone surrogate is written as its escape, so the fingerprint can always be computed.
        raw = json.dumps(error.raw, sort_keys=True, default=str)
        fingerprint = hashlib.sha256(f"{error.reason}|{raw}".encode("utf-8", "replace")).hexdigest()
        seen.append(fingerprint)
        # Kept as received, but storable anywhere: a row that is not an object is wrapped, NULs and lone
        # surrogates replaced.
        stored = _storable(error.raw if isinstance(error.raw, dict) else {"row": error.raw})
        employee_id, reason = _storable(error.employee_id or "")[:64], _storable(error.reason)
        row, created = ReportRowError.objects.get_or_create(
            fingerprint=fingerprint, defaults={"employee_id": employee_id, "reason": reason, "raw": stored}
        )
        if created:
            AuditEvent.record("workday.row_error", actor=SYNC, obj=f"row {error.index}", after={"reason": reason})
            _alert_row_error(row, raw)
        else:
            ReportRowError.objects.filter(pk=row.pk).update(last_seen=now, resolved_at=None)
    if whole_report:
        ReportRowError.objects.filter(resolved_at=None).exclude(fingerprint__in=seen).update(resolved_at=now)
    return len(row_errors)


def _alert_row_error(row: ReportRowError, raw: str) -> None:
    who = row.employee_id or "a row without an id"
    send_alert(
        f"Workday row could not be read ({who}): {row.reason[:80]}",
        f"A row of the Workday terminations report could not be read, so no case was opened for it.\n"
        f"Reason: {row.reason}\nRow: {raw[:2000]}\n"
        f"Fix it in Workday; the next sync then reads it.\n{settings.SITE_URL}{reverse('row_errors')}",
    )


SURROGATES = re.compile("[\ud800-\udfff]")


def _storable(value):
    """A JSON value every database takes: PostgreSQL refuses NUL characters in text and jsonb, and no
    database encodes a lone surrogate."""
    if isinstance(value, str):
        return SURROGATES.sub("\ufffd", value.replace("\x00", "\ufffd"))
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    return value


def _fields_of(record) -> dict:
    return {f: getattr(record, f) for f in Termination.TRACKED_FIELDS}


# A termination whose revocation has started stays the worker's current one while the report shows it: a
# new date on its row corrects it (and is flagged on its case) rather than opening a second case. A row
# that comes back after the report stopped showing it for longer is a new termination (a rehire leaving).
STILL_IN_REPORT = timedelta(days=1)


def _current_termination(employee_id: str, termination_date) -> Termination | None:
    """The termination a report row describes: the one on that date, the one still open, or the one the
    report showed lately whose revocation has started (and not been undone by a restore)."""
    lately = timezone.now() - STILL_IN_REPORT
    for termination in Termination.objects.filter(employee_id=employee_id).order_by("-first_seen"):
        cases = list(termination.cases.all())
        if termination.termination_date == termination_date or any(c.state in Case.OPEN_STATES for c in cases):
            return termination
        if termination.last_seen >= lately and any(c.started_at and not c.restored_at for c in cases):
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
            "case.opened",
            actor=actor,
            case=case,
            after={"state": case.state, "effective_at": case.effective_at},
            decision=("effective_at", "approvals"),
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
    if "rescinded" in changed and (reopened := _rescind_reversed(case, termination, actor)):
        return reopened.pk, "created"
    if case.started_at is not None:
        if not case.restored_at and changed.keys() & MOMENT_FIELDS:
            _check_revoked_too_early(case, termination, actor)
    elif case.state in Case.OPEN_STATES:
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
                decision=("effective_at",),
            )
    return case.pk, "updated"


RESCINDED_AFTER = "Rescinded in Workday after access was revoked — restore?"
RESCINDED_DURING = "Rescinded in Workday during the revocation; the lockout was finished and verified first — restore?"


def _rescind(case: Case, actor: Actor) -> str:
    if case.state in Case.OPEN_STATES and case.started_at is None:
        case.attention_reason = ""
        case.move_to(Case.State.CANCELLED, actor, after={"reason": "rescinded in Workday"})
        return "cancelled"
    if case.state in (Case.State.REJECTED, Case.State.CANCELLED):
        return "updated"
    if case.revocation_unfinished:
        _after_the_run(case, actor, "case.rescinded_during_revocation", RESCINDED_DURING)
    else:
        _needs_attention(case, actor, RESCINDED_AFTER)
    return "updated"


RESCIND_REVERSED = "Workday reversed the rescind: the termination stands again"


def _rescind_reversed(case: Case, termination: Termination, actor: Actor) -> Case | None:
    """Workday took its rescind back (the row is no longer rescinded): the person is offboarded after all.

    A case the rescind cancelled, or whose access a restore is giving back, is followed by a new case of
    the same termination, linked to it: a new decision, in the queue. A revocation that stands is no longer
    offered for a restore. A person's rejection stands.
    """
    if case.state == Case.State.CANCELLED or case.restore_approved_by_id:
        new = Case.objects.create(termination=termination, state=Case.State.PENDING_REVIEW, reopened_from=case)
        _set_effective_moment(new)
        new.save()
        AuditEvent.record(
            "case.rescind_reversed", actor=actor, case=case, after={"reason": RESCIND_REVERSED, "new_case": new.pk}
        )
        AuditEvent.record(
            "case.opened",
            actor=actor,
            case=new,
            after={
                "state": new.state,
                "effective_at": new.effective_at,
                "reopens": case.pk,
                "reason": RESCIND_REVERSED,
            },
            decision=("effective_at", "approvals"),
        )
        return new
    if case.started_at is None:
        return None
    rescinds = {RESCINDED_AFTER, RESCINDED_DURING}
    case.attention_after_run = _without_lines(case.attention_after_run, rescinds)
    change = {"reason": f"{RESCIND_REVERSED}; the revocation stands"}
    if case.state == Case.State.NEEDS_ATTENTION:
        case.attention_reason = _without_lines(case.attention_reason, rescinds)
        if case.restore_requested_by_id:
            change["restore_request_withdrawn"] = case.restore_requested_by.get_username()
            case.restore_requested_by, case.restore_reason = None, ""
        if not case.attention_reason and case.revoked_at and not case.failure_summary:
            case.move_to(Case.State.COMPLETED, actor, "case.rescind_reversed", after=change)
            return None
    # Only these: a running case's lease and state are its worker's.
    case.save(
        update_fields=[
            "attention_after_run",
            "attention_reason",
            "restore_requested_by",
            "restore_reason",
            "updated_at",
        ]
    )
    AuditEvent.record("case.rescind_reversed", actor=actor, case=case, after=change)
    return None


def _after_the_run(case: Case, actor: Actor, action: str, reason: str) -> None:
    """Keep what Workday said for when the revocation under way has finished; never interrupt it.

    Moving a running case out of `running` would make its worker believe another took it over and stop
    mid-way (its lease is held only while the case runs): groups gone, the user still active, no ticket.
    """
    case.attention_after_run = _with_line(case.attention_after_run, reason)
    case.save(update_fields=["attention_after_run", "updated_at"])
    AuditEvent.record(action, actor=actor, case=case, after={"state": case.state, "reason": reason})
    if case.state == Case.State.FAILED:  # nobody is running it now: a retry finishes the lockout
        send_alert(
            f"Case {case.pk} (failed) changed in Workday",
            f"{case.person_name}: {reason}\nRetry it to finish the lockout; it then needs attention.\n{case.site_url}",
        )


def _needs_attention(case: Case, actor: Actor, reason: str) -> None:
    case.attention_reason = (
        _with_line(case.attention_reason, reason) if case.state == Case.State.NEEDS_ATTENTION else reason
    )
    case.move_to(Case.State.NEEDS_ATTENTION, actor, after={"reason": reason})
    send_alert(
        f"Case {case.pk} needs attention",
        f"{case.person_name}: {case.attention_reason}\n{case.site_url}",
    )


def _without_lines(text: str, lines: set[str]) -> str:
    return "\n".join(line for line in text.splitlines() if line not in lines)


def _with_line(text: str, line: str) -> str:
    """`text` with `line` added as a line of its own, once."""
    lines = text.splitlines()
    return "\n".join(lines if line in lines else [*lines, line])


# What the moment access should go depends on.
MOMENT_FIELDS = {"termination_date", "last_day_of_work", "time_zone"}


def _check_revoked_too_early(case: Case, termination: Termination, actor: Actor) -> None:
    """A date corrected after the revocation started: when access went before the corrected moment, say so
    on the case (after the run, if it is still under way). A date moved earlier needs nothing."""
    mode = SafetySettings.load().effective_mode
    due = termination.effective_moment(mode)
    unfinished = case.revocation_unfinished
    revoked = case.revoked_at or (timezone.now() if unfinished else case.started_at)
    if revoked >= due:
        return
    day = termination.termination_date
    if mode == SafetySettings.EffectiveMode.END_OF_LAST_DAY_OF_WORK:
        day = termination.last_day_of_work or day
    revoked_on = revoked.astimezone(ZoneInfo(termination.time_zone)).date()
    days = (day - revoked_on).days
    early = (
        f"{days} day{pluralize(days)} before the corrected date"
        if days > 0
        else "on the corrected date, before its end"
    )
    reason = (
        f"Termination date corrected in Workday to {day:%Y-%m-%d}: access was revoked {early} "
        f"({revoked_on:%Y-%m-%d}, {termination.time_zone}) — restore it until then?"
    )
    if unfinished:
        _after_the_run(case, actor, "case.corrected_during_revocation", reason)
    else:
        _needs_attention(case, actor, reason)


def _set_effective_moment(case: Case) -> None:
    """As the safety settings say (`Case.schedule`), as a change of those settings reschedules too."""
    case.schedule(SafetySettings.load())
