"""From a Workday termination to a decided case: sync, identity, plan, rules, safety rails, decisions.

Each operation takes ids or plain values, does its vendor calls outside any
database transaction, then locks what it changes and writes the audit event in
the same transaction as the change. The revocation itself is in
`offboarding/revocation.py`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.roles import APPROVERS, has_role
from offboarding.clients import okta as okta_api
from offboarding.clients import workday as workday_api
from offboarding.clients.errors import VendorError
from offboarding.models import (
    Approval,
    AuditEvent,
    AutoApproveRule,
    Case,
    ProtectedAccount,
    ReportRowError,
    SafetySettings,
    Termination,
    dates_in,
)

log = logging.getLogger(__name__)

SYNC_ACTOR = "system:sync_workday"
POPULATION_RECOUNT = timedelta(hours=24)
# A handful of leavers is an ordinary day even in a small org: the share threshold counts from here.
SHARE_APPLIES_FROM = 5


class DecisionError(Exception):
    """A decision that is not allowed; the message says why, in plain words."""


class SuspectReport(Exception):
    """The whole report came back empty right after one with many rows: not trusted, nothing changed."""


@dataclass
class SyncResult:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    row_errors: int = 0
    breaker_tripped: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.cancelled)


# --- Alerts -------------------------------------------------------------------


def send_alert(subject: str, body: str) -> None:
    """Email the configured alert list; a broken mail server must not break the caller."""
    if not settings.ALERT_EMAILS:
        return
    try:
        send_mail(f"[Offboarding] {subject}", body, None, settings.ALERT_EMAILS)
    except Exception:
        log.exception("Could not send the alert %r", subject)


# --- Sync ---------------------------------------------------------------------


def sync_workday(*, employee_id: str | None = None, actor: str = SYNC_ACTOR, accept_empty: bool = False) -> SyncResult:
    """Read the terminations report (or one worker's rows) and bring Terminations and Cases up to date.

    Running it twice in a row changes nothing and records nothing new. An empty whole report right
    after one with many rows raises SuspectReport (audited, alerted) unless `accept_empty`.
    """
    report = workday_api.WorkdayClient.from_settings().fetch_terminations(employee_id)
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
        result.breaker_tripped = _check_breaker(len(result.created))
        okta = okta_api.OktaClient.from_settings()
        opened = Case.objects.select_related("termination").in_bulk(result.created)
        # A layoff opens thousands of cases at once: their Okta lookups go several at a time while
        # each case, in order, is assessed and decided as soon as its lookup is back.
        with ThreadPoolExecutor(max_workers=settings.REVOCATION_PARALLEL_CALLS) as pool:
            lookups = pool.map(lambda case_id: look_up(opened[case_id].termination, okta), result.created)
            for case_id, lookup in zip(result.created, lookups, strict=True):
                assess_case(case_id, okta=okta, actor=actor, lookup=lookup)
                fire_rules(case_id)
    return result


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
                "workday.report_suspect", actor=SYNC_ACTOR, obj=safety, after={"rows": 0, "previous_rows": previous}
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
            AuditEvent.record(
                "workday.row_error", actor=SYNC_ACTOR, obj=f"row {error.index}", after={"reason": error.reason}
            )
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
def _apply_record(record, actor: str) -> tuple[int | None, str]:
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


def _rescind(case: Case, actor: str) -> str:
    before = {"state": case.state}
    if case.state in Case.OPEN_STATES and case.started_at is None:
        case.state = Case.State.CANCELLED
        case.attention_reason = ""
        case.save()
        AuditEvent.record(
            "case.cancelled",
            actor=actor,
            case=case,
            before=before,
            after={"state": case.state, "reason": "rescinded in Workday"},
        )
        return "cancelled"
    if case.state in (Case.State.REJECTED, Case.State.CANCELLED):
        return "updated"
    case.state = Case.State.NEEDS_ATTENTION
    case.attention_reason = "Rescinded in Workday after access was revoked — restore?"
    case.save()
    AuditEvent.record(
        "case.needs_attention",
        actor=actor,
        case=case,
        before=before,
        after={"state": case.state, "reason": case.attention_reason},
    )
    send_alert(
        f"Case {case.pk} needs attention",
        f"{case.person_name}: {case.attention_reason}\n{settings.SITE_URL}{case.get_absolute_url()}",
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


# --- Mass-termination breaker ---------------------------------------------------


def _check_breaker(new_terminations: int) -> bool:
    """Trip the breaker when one sync brings too many new terminations; True while it is tripped."""
    safety = SafetySettings.load()
    if safety.breaker_tripped:
        return True
    reason = ""
    if new_terminations > safety.breaker_count:
        reason = f"{new_terminations} new terminations in one sync (threshold {safety.breaker_count})"
    elif new_terminations >= SHARE_APPLIES_FROM:
        population = _active_population(safety)
        if population and new_terminations / population > safety.breaker_share:
            reason = (
                f"{new_terminations} new terminations are {new_terminations / population:.1%} of "
                f"{population} active Okta users (threshold {safety.breaker_share:.1%})"
            )
    if reason:
        trip_breaker(reason)
        return True
    return False


def _active_population(safety: SafetySettings) -> int:
    stale = safety.active_population_counted_at is None or (
        timezone.now() - safety.active_population_counted_at > POPULATION_RECOUNT
    )
    if stale:
        try:
            safety.active_population = okta_api.OktaClient.from_settings().count_active_users()
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
    AuditEvent.record("safety.breaker_tripped", actor=SYNC_ACTOR, obj=safety, after={"reason": reason})
    send_alert("Mass-termination breaker tripped", f"Auto-approval is paused: {reason}. An admin must reset it.")


@transaction.atomic
def reset_breaker(user) -> None:
    safety = SafetySettings.objects.select_for_update().get(pk=SafetySettings.load().pk)
    if not safety.breaker_tripped:
        return
    before = {"tripped_at": safety.breaker_tripped_at, "reason": safety.breaker_reason}
    safety.breaker_tripped_at = None
    safety.breaker_reason = ""
    safety.save()
    AuditEvent.record("safety.breaker_reset", actor=user, obj=safety, before=before, after={"tripped_at": None})


# --- Identity and plan ------------------------------------------------------------


def _normalised(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def names_agree(termination: Termination, user: okta_api.OktaUser) -> bool:
    okta_name = _normalised(f"{user.first_name} {user.last_name}")
    workday_names = {_normalised(termination.name), _normalised(f"{termination.first_name} {termination.last_name}")}
    return okta_name in workday_names


def resolve_identity(termination: Termination, okta: okta_api.OktaClient) -> tuple[str, okta_api.OktaUser | None, str]:
    """(how it matched, the Okta user or None, a note in plain words)."""
    matches = okta.find_users_by_employee_number(termination.employee_id)
    if len(matches) > 1:
        logins = ", ".join(u.login for u in matches)
        return (
            Case.Identity.MULTIPLE,
            None,
            f"{len(matches)} Okta users have employee number {termination.employee_id}: {logins}.",
        )
    if len(matches) == 1:
        user = matches[0]
        if names_agree(termination, user):
            return Case.Identity.EXACT, user, ""
        return (
            Case.Identity.NAME_MISMATCH,
            user,
            f"Okta user {user.login} has employee number {termination.employee_id} but is named "
            f"“{user.first_name} {user.last_name}”, not “{termination.name}”.",
        )
    if termination.email:
        user = okta.find_user_by_login(termination.email)
        if user is not None:
            return (
                Case.Identity.LOGIN_ONLY,
                user,
                f"No Okta user has employee number {termination.employee_id}; {user.login} was found by email only.",
            )
    return Case.Identity.NONE, None, f"No Okta user has employee number {termination.employee_id}."


def build_plan(user: okta_api.OktaUser, groups: list[okta_api.OktaGroup]) -> dict:
    """Exactly what revocation would do right now."""
    return {
        "computed_at": timezone.now().isoformat(),
        "user": {
            "id": user.id,
            "login": user.login,
            "email": user.email,
            "name": f"{user.first_name} {user.last_name}".strip(),
            "status": user.status,
            "employee_number": user.employee_number,
        },
        "groups": [
            {"id": g.id, "name": g.name, "type": g.type, "removable": g.removable, "reason": g.not_removable_reason}
            for g in groups
        ],
        "remove": [{"id": g.id, "name": g.name} for g in groups if g.removable],
        "keep": [
            {"id": g.id, "name": g.name, "type": g.type, "reason": g.not_removable_reason}
            for g in groups
            if not g.removable
        ],
        "clear_sessions": True,
        "deactivate": user.status != "DEPROVISIONED",
    }


Lookup = tuple[str, "okta_api.OktaUser | None", str, "list[okta_api.OktaGroup]"]


def look_up(termination: Termination, okta: okta_api.OktaClient) -> Lookup | VendorError:
    """Okta's side of one leaver: (identity, user, note, groups), or the error that stopped the lookup.

    No database access, so several lookups can run at once in threads.
    """
    try:
        identity, user, note = resolve_identity(termination, okta)
        return identity, user, note, okta.list_user_groups(user.id) if user else []
    except VendorError as e:
        return e


def assess_case(
    case_id: int,
    *,
    okta: okta_api.OktaClient | None = None,
    actor: str = SYNC_ACTOR,
    lookup: Lookup | VendorError | None = None,
) -> Case:
    """Resolve the case's Okta user, compute its plan, and say whether a human is needed.

    `lookup` is `look_up`'s answer when the caller already has it.
    """
    case = Case.objects.select_related("termination").get(pk=case_id)
    if lookup is None:
        lookup = look_up(case.termination, okta or okta_api.OktaClient.from_settings())
    if isinstance(lookup, VendorError):
        with transaction.atomic():
            AuditEvent.record("okta.lookup_failed", actor=actor, case=case, after={"error": str(lookup)})
        return case
    identity, user, note, groups = lookup
    plan = build_plan(user, groups) if user else {}
    protected = ProtectedAccount.reason_for(user.id, user.login, plan["groups"]) if user else ""

    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        before = {"identity": case.identity, "okta_user_id": case.okta_user_id, "state": case.state}
        case.identity, case.identity_note, case.plan, case.protected_reason = identity, note, plan, protected
        case.okta_user_id, case.okta_login = (user.id, user.login) if user else ("", "")
        doubts = [note] if identity != Case.Identity.EXACT else []
        if protected:
            doubts.append(f"This is a {protected}: two distinct approvers are needed.")
        if case.state in Case.DECIDABLE_STATES:
            case.state = Case.State.NEEDS_ATTENTION if doubts else Case.State.PENDING_REVIEW
            case.attention_reason = " ".join(doubts)
        case.save()
        if case.state == Case.State.NEEDS_ATTENTION:
            transaction.on_commit(
                lambda: send_alert(f"Case {case.pk} needs attention: {case.person_name}", case.attention_reason)
            )
        AuditEvent.record(
            "okta.user_resolved",
            actor=actor,
            case=case,
            before=before,
            after={
                "identity": identity,
                "okta_user_id": case.okta_user_id,
                "login": case.okta_login,
                "note": note,
                "protected": protected,
                "state": case.state,
                "remove": len(plan.get("remove", [])),
                "keep": len(plan.get("keep", [])),
            },
        )
    return case


# --- Decisions ------------------------------------------------------------------


def _decided(case: Case, now) -> None:
    """Approved: scheduled for its effective moment, or due at once."""
    case.decided_at = now
    case.state = Case.State.SCHEDULED if case.effective_at and case.effective_at > now else Case.State.APPROVED


def rules_may_decide(case: Case, safety: SafetySettings) -> bool:
    """Whether any rule may approve this case at all; when not, a human decides."""
    return (
        case.kind == Case.Kind.WORKDAY
        and case.state == Case.State.PENDING_REVIEW
        and case.identity == Case.Identity.EXACT
        and not case.protected_reason
        and not safety.breaker_tripped
    )


def rule_would_approve(rule: AutoApproveRule, case: Case, safety: SafetySettings) -> bool:
    return rules_may_decide(case, safety) and rule.matches(case.termination, len(case.plan.get("remove", [])))


def cases_rule_would_approve(rule: AutoApproveRule) -> list[Case]:
    """The current pending cases this rule would approve now (its preview)."""
    safety = SafetySettings.load()
    pending = Case.objects.filter(kind=Case.Kind.WORKDAY, state=Case.State.PENDING_REVIEW).select_related("termination")
    return [case for case in pending.order_by("effective_at") if rule_would_approve(rule, case, safety)]


def fire_rules(case_id: int) -> Case:
    """Approve the case by the first enabled rule that matches, when a rule may fire at all."""
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("termination").get(pk=case_id)
        safety = SafetySettings.load()
        if not rules_may_decide(case, safety):
            return case
        rule = next(
            (r for r in AutoApproveRule.objects.filter(enabled=True) if rule_would_approve(r, case, safety)), None
        )
        if rule is None:
            return case
        now = timezone.now()
        if rule.timing == AutoApproveRule.Timing.IMMEDIATELY:
            case.immediate, case.effective_at = True, now
        case.decided_by_rule, case.rule_snapshot = rule, rule.conditions()
        _decided(case, now)
        case.save()
        AuditEvent.record(
            "case.approved",
            actor=f"rule:{rule.pk}",
            case=case,
            before={"state": Case.State.PENDING_REVIEW},
            after={"state": case.state, "rule": rule.conditions(), "effective_at": case.effective_at},
        )
    _enqueue_if_due(case)
    return case


def approve(case_id: int, user, reason: str = "") -> Case:
    """A person's approval; a protected or emergency case needs two distinct approvers."""
    if not has_role(user, APPROVERS):
        raise DecisionError("Only approvers can approve.")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.state not in Case.DECIDABLE_STATES or case.started_at is not None:
            raise DecisionError(f"This case is {case.get_state_display().lower()} and can no longer be approved.")
        if not case.okta_user_id:
            raise DecisionError("No Okta user is resolved for this case; choose one before approving.")
        if case.requested_by_id == user.pk:
            raise DecisionError("You requested this offboard; a different approver must approve it.")
        if case.approvals.filter(user=user).exists():
            raise DecisionError("You have already approved this case; a second, different approver is needed.")
        Approval.objects.create(case=case, user=user, reason=reason)
        if case.needs_two_approvers and case.approvals.count() < 2:
            AuditEvent.record(
                "case.first_approval",
                actor=user,
                case=case,
                after={"reason": reason, "waiting_for": "a second approver"},
            )
            return case
        before = {"state": case.state}
        case.decided_by, case.decision_reason = user, reason
        _decided(case, timezone.now())
        case.save()
        AuditEvent.record(
            "case.approved",
            actor=user,
            case=case,
            before=before,
            after={
                "state": case.state,
                "reason": reason,
                "effective_at": case.effective_at,
                "approvers": list(case.approvals.values_list("user__username", flat=True)),
            },
        )
    _enqueue_if_due(case)
    return case


def reject(case_id: int, user, reason: str) -> Case:
    if not has_role(user, APPROVERS):
        raise DecisionError("Only approvers can reject.")
    if not reason.strip():
        raise DecisionError("A reason is required to reject.")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.state not in Case.OPEN_STATES or case.started_at is not None:
            raise DecisionError(f"This case is {case.get_state_display().lower()} and can no longer be rejected.")
        before = {"state": case.state}
        case.state, case.decided_by, case.decided_at, case.decision_reason = (
            Case.State.REJECTED,
            user,
            timezone.now(),
            reason,
        )
        case.save()
        AuditEvent.record(
            "case.rejected", actor=user, case=case, before=before, after={"state": case.state, "reason": reason}
        )
    return case


def _enqueue_if_due(case: Case) -> None:
    """Hand a due case to the revocation worker as soon as the decision is committed."""
    if case.state == Case.State.APPROVED:
        from offboarding import revocation

        transaction.on_commit(lambda: revocation.enqueue(case.pk))


def retry_case(case_id: int, actor) -> Case:
    """Resume a failed case at its first unfinished step; nothing already done is done again."""
    if not isinstance(actor, str) and not has_role(actor, APPROVERS):
        raise DecisionError("Only approvers can retry a case.")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.state != Case.State.FAILED:
            raise DecisionError(f"Only a failed case can be retried; this one is {case.get_state_display().lower()}.")
        case.state = Case.State.APPROVED
        case.save()
        AuditEvent.record(
            "case.retry_requested", actor=actor, case=case, before={"state": "failed"}, after={"state": case.state}
        )
    _enqueue_if_due(case)
    return case


# --- Emergency offboard -----------------------------------------------------------


def start_emergency(okta_user_id: str, user, reason: str) -> Case:
    """An approver asks to offboard an Okta user now, without a Workday termination; a second approver confirms."""
    if not has_role(user, APPROVERS):
        raise DecisionError("Only approvers can start an emergency offboard.")
    if not reason.strip():
        raise DecisionError("A reason is required for an emergency offboard.")
    okta = okta_api.OktaClient.from_settings()
    okta_user = okta.get_user(okta_user_id)
    plan = build_plan(okta_user, okta.list_user_groups(okta_user.id))
    with transaction.atomic():
        if Case.objects.filter(okta_user_id=okta_user.id, state__in=Case.OPEN_STATES + (Case.State.RUNNING,)).exists():
            raise DecisionError(f"{okta_user.login} already has an open case.")
        now = timezone.now()
        case = Case.objects.create(
            kind=Case.Kind.EMERGENCY,
            state=Case.State.PENDING_REVIEW,
            okta_user_id=okta_user.id,
            okta_login=okta_user.login,
            identity=Case.Identity.CHOSEN,
            identity_note=f"Chosen by {user.get_username()} for an emergency offboard.",
            protected_reason=ProtectedAccount.reason_for(okta_user.id, okta_user.login, plan["groups"]),
            plan=plan,
            requested_by=user,
            request_reason=reason,
            immediate=True,
            effective_at=now,
        )
        # The requester is the first of the two people; a different approver must confirm.
        Approval.objects.create(case=case, user=user, reason=reason)
        AuditEvent.record(
            "case.emergency_requested",
            actor=user,
            case=case,
            after={
                "okta_user_id": okta_user.id,
                "login": okta_user.login,
                "reason": reason,
                "waiting_for": "a second approver",
            },
        )
    return case


# --- Restore ------------------------------------------------------------------------


def request_restore(case_id: int, user, reason: str) -> Case:
    """Ask to give back what a revocation took (rescinded or mistaken); a second person approves."""
    if not has_role(user, APPROVERS):
        raise DecisionError("Only approvers can restore access.")
    if not reason.strip():
        raise DecisionError("A reason is required to restore access.")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.started_at is None or case.state == Case.State.RUNNING or case.restored_at:
            raise DecisionError("Only a finished revocation that has not been restored can be restored.")
        if case.restore_requested_by_id:
            raise DecisionError("A restore is already requested; a second approver must approve it.")
        case.restore_requested_by, case.restore_reason = user, reason
        case.save()
        AuditEvent.record("case.restore_requested", actor=user, case=case, after={"reason": reason})
    return case


def approve_restore(case_id: int, user) -> Case:
    if not has_role(user, APPROVERS):
        raise DecisionError("Only approvers can restore access.")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if not case.restore_requested_by_id or case.restored_at or case.restore_approved_by_id:
            raise DecisionError("There is no restore waiting for approval on this case.")
        if case.restore_requested_by_id == user.pk:
            raise DecisionError("You requested this restore; a different approver must approve it.")
        case.restore_approved_by = user
        case.save()
        AuditEvent.record(
            "case.restore_approved",
            actor=user,
            case=case,
            after={"requested_by": case.restore_requested_by.get_username()},
        )
    from offboarding import revocation

    transaction.on_commit(lambda: revocation.enqueue_restore(case.pk))
    return case
