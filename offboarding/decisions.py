"""Decisions: who may say yes or no to an offboarding, and the audited saves of what admins set.

Each decision locks what it changes, checks, changes and records its audit event in one
transaction; a decision that is not allowed raises `DecisionError` worded for the person.
A due case is handed to the revocation worker as the decision commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.roles import APPROVERS, has_role
from offboarding import follow_ups, restore, retries, revocation, tickets
from offboarding.alerts import send_alert
from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OktaClient
from offboarding.identity import (
    Candidate,
    Holdings,
    build_plan,
    find_candidates,
    protection_reason,
    read_access,
    read_holdings,
    token_owner_reason,
)
from offboarding.models import (
    Actor,
    Approval,
    AuditEvent,
    AutoApproveRule,
    Case,
    FollowUp,
    ProtectedAccount,
    SafetySettings,
)
from offboarding.request_id import current_request_id

# Who notices that a rule cannot be evaluated: the rules' own evaluation, whoever ran it.
RULES = Actor.system("auto_approve")


class DecisionError(Exception):
    """A decision that is not allowed; the message says why, in plain words."""


def _require_approver(user, doing: str) -> None:
    if not has_role(user, APPROVERS):
        raise DecisionError(f"Only approvers can {doing}.")


def _require_reason(reason: str, doing: str) -> None:
    if not reason.strip():
        raise DecisionError(f"A reason is required {doing}.")


def _approved_state(case: Case, now) -> str:
    """Approved: scheduled for its effective moment, or due at once."""
    return Case.State.SCHEDULED if case.effective_at and case.effective_at > now else Case.State.APPROVED


def _enqueue_if_due(case: Case) -> None:
    """Hand a due case to the revocation worker as soon as the decision is committed."""
    if case.state == Case.State.APPROVED:
        decided_in = current_request_id()  # the commit may come after the request's own context
        transaction.on_commit(lambda: revocation.enqueue(case.pk, decided_in))


# --- Auto-approve rules ---------------------------------------------------------------


def rules_may_decide(case: Case, safety: SafetySettings) -> bool:
    """Whether any rule may approve this case at all; when not, a human decides.

    Protection is judged by the current protected list, not only the one of when the case opened
    (the groups are the ones read at review; the revocation reads them live again before any change).
    """
    return (
        case.kind == Case.Kind.WORKDAY
        and case.state == Case.State.PENDING_REVIEW
        and case.identity == Case.Identity.EXACT
        and not case.protected_reason
        and not safety.breaker_tripped
        and not Holdings.stored(case).protection()
    )


def rule_would_approve(rule: AutoApproveRule, case: Case, safety: SafetySettings) -> bool:
    """Whether this sound rule (see `sound_rules`) approves the case now."""
    return rules_may_decide(case, safety) and rule.matches(case.termination, len(case.plan.get("remove", [])))


def sound_rules() -> list[AutoApproveRule]:
    """The enabled rules, less any that cannot be evaluated: each of those is reported (once) and matches nothing."""
    rules = []
    for rule in AutoApproveRule.objects.filter(enabled=True):
        if problems := rule.problems():
            _report_unsound(rule, "; ".join(problems))
        else:
            rules.append(rule)
    return rules


def _report_unsound(rule: AutoApproveRule, problem: str) -> None:
    """Audit and alert a rule that cannot be evaluated, once for what is wrong with it (not at every sync)."""
    if AuditEvent.objects.filter(action="rule.unusable", after__rule=rule.pk, after__problem=problem).exists():
        return
    subject = f"Auto-approve rule {rule.pk} cannot be evaluated"
    body = (
        f"The rule “{rule.name}” approves nothing until an admin fixes it: {problem}\n"
        f"{settings.SITE_URL}{reverse('rule_edit', args=[rule.pk])}"
    )
    with transaction.atomic():
        AuditEvent.record("rule.unusable", actor=RULES, obj=rule, after={"rule": rule.pk, "problem": problem})
    send_alert(subject, body)


def cases_rule_would_approve(rule: AutoApproveRule) -> list[Case]:
    """The current pending cases this rule would approve now (its preview); none for a rule that cannot be evaluated."""
    if rule.problems():
        return []
    safety = SafetySettings.load()
    pending = Case.objects.filter(kind=Case.Kind.WORKDAY, state=Case.State.PENDING_REVIEW).select_related("termination")
    return [case for case in pending.order_by("effective_at", "pk") if rule_would_approve(rule, case, safety)]


def fire_rules(case_id: int, rules: list[AutoApproveRule] | None = None) -> Case:
    """Approve the case by the first of `rules` (by default `sound_rules()`) that matches, if a rule may decide it."""
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("termination").get(pk=case_id)
        safety = SafetySettings.load()
        if not rules_may_decide(case, safety):
            return case
        candidates = sound_rules() if rules is None else rules
        rule = next((r for r in candidates if rule_would_approve(r, case, safety)), None)
        if rule is None:
            return case
        now = timezone.now()
        if rule.timing == AutoApproveRule.Timing.IMMEDIATELY:
            case.immediate, case.effective_at = True, now
        case.decided_by_rule, case.rule_snapshot, case.decided_at = rule, rule.conditions(), now
        case.move_to(
            _approved_state(case, now),
            Actor.rule(rule),
            "case.approved",
            after={"rule": rule.conditions(), "effective_at": case.effective_at},
        )
    _enqueue_if_due(case)
    return case


def fire_rules_for_open_cases(rules: list[AutoApproveRule] | None = None) -> list[Case]:
    """Offer every undecided case to the rules (by default `sound_rules()`); return the cases approved.

    Run at every sync and whenever a rule is saved or enabled, so a rule approves exactly what its
    preview lists, whenever the case was opened.
    """
    safety = SafetySettings.load()
    rules = sound_rules() if rules is None else rules
    if not rules or safety.breaker_tripped:
        return []
    waiting = Case.objects.filter(
        kind=Case.Kind.WORKDAY, state=Case.State.PENDING_REVIEW, identity=Case.Identity.EXACT, protected_reason=""
    ).select_related("termination")
    # Read first, decided after: each decision locks its case and checks again.
    matching = [
        case.pk
        for case in waiting.order_by("effective_at", "pk")
        if any(rule_would_approve(rule, case, safety) for rule in rules)
    ]
    decided = (fire_rules(case_id, rules) for case_id in matching)
    return [case for case in decided if case.state in Case.RUNNABLE_STATES]


# --- A person's decisions -----------------------------------------------------------------


def _case_as_it_is(case_id: int) -> Case:
    """The case as it is now, unlocked (for what is read from Okta before its decision locks it)."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        raise DecisionError("There is no such case.")
    return case


def _holdings_now(case: Case, okta: OktaClient | None) -> Holdings:
    """What the person holds in Okta now, for a case a person may still decide (else nothing is read)."""
    if not (case.is_decidable and case.okta_user_id):
        return Holdings.stored(case)
    return read_holdings(case, okta or OktaClient.from_settings())


def reassess_protection(case: Case, holdings: Holdings, actor: Actor | Any) -> None:
    """Record protection found now (the case is locked): a case that became protected needs two approvers.

    A decidable case that became protected goes to needs_attention, saying why, as one protected
    when it opened does. Protection is only ever added: a case once protected stays so, so neither an
    entry removed nor Okta not answering lets one person's word through.
    """
    protected = holdings.protection()
    if not protected or case.protected_reason:
        return
    before = case.protected_reason
    case.protected_reason = protected
    state = case.state
    if case.state in Case.DECIDABLE_STATES:
        state = Case.State.NEEDS_ATTENTION
        why = f"This is a {protected}: two distinct approvers are needed."
        case.attention_reason = " ".join(filter(None, [case.attention_reason, why]))
    case.move_to(
        state,
        actor,
        "case.protection_changed",
        before={"protected": before},
        after={"protected": protected, "judged_from": holdings.source},
    )


def approve(case_id: int, user, reason: str = "", okta: OktaClient | None = None, *, at_once: bool = False) -> Case:
    """A person's approval; a protected or emergency case needs two distinct approvers.

    Whether the person is protected is judged again at every approval, from the current protected
    list and their Okta groups read live (before the transaction, so no lock waits on Okta; the
    groups stored at review when Okta does not answer, the revocation reading them live again).
    `at_once` (see `revoke_now`) first brings the effective moment forward to now.
    """
    _require_approver(user, "approve")
    holdings = _holdings_now(_case_as_it_is(case_id), okta)
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if not case.is_decidable:
            raise DecisionError(f"This case is {case.get_state_display().lower()} and can no longer be approved.")
        if not case.okta_user_id:
            raise DecisionError("No Okta user is resolved for this case; choose one before approving.")
        if case.requested_by_id == user.pk:
            raise DecisionError("You requested this offboard; a different approver must approve it.")
        if case.approvals.filter(user=user).exists():
            raise DecisionError("You have already approved this case; a second, different approver is needed.")
        if holdings.user_id != case.okta_user_id:
            raise DecisionError("The case's Okta user changed while it was being checked; look at it again.")
        if at_once:
            _bring_forward(case, user, reason)
        reassess_protection(case, holdings, user)
        Approval.objects.create(case=case, user=user, reason=reason)
        if case.needs_two_approvers and case.approvals.count() < 2:
            AuditEvent.record(
                "case.first_approval",
                actor=user,
                case=case,
                after={"reason": reason, "waiting_for": "a second approver"},
                decision=("approvals",),
            )
            return case
        now = timezone.now()
        case.decided_by, case.decision_reason, case.decided_at = user, reason, now
        case.move_to(
            _approved_state(case, now),
            user,
            "case.approved",
            after={
                "reason": reason,
                "effective_at": case.effective_at,
                "approvers": list(case.approvals.values_list("user__username", flat=True)),
            },
            decision=Case.DECISION_FIELDS,
        )
    _enqueue_if_due(case)
    return case


def revoke_now(case_id: int, user, reason: str, okta: OktaClient | None = None) -> Case:
    """Cut an open case's person off now: the effective moment becomes now and the revocation starts at once.

    An undecided case is approved at the same time, with the same rails as `approve` (a protected or
    emergency case needs two distinct approvers: the first's "now" waits for the second's approval).
    An approved or scheduled case keeps its decision; only its moment moves, so one approver suffices.
    """
    _require_approver(user, "revoke now")
    _require_reason(reason, "to revoke now")
    _require_storable(reason)
    if _case_as_it_is(case_id).is_decidable:
        return approve(case_id, user, reason, okta, at_once=True)
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if not case.is_cancellable:
            raise DecisionError(f"This case is {case.get_state_display().lower()}; there is nothing to bring forward.")
        before = {"effective_at": case.effective_at, "immediate": case.immediate}
        case.immediate, case.effective_at = True, timezone.now()
        case.move_to(
            Case.State.APPROVED,
            user,
            "case.revoke_now",
            before=before,
            after={"effective_at": case.effective_at, "immediate": True, "reason": reason},
        )
    _enqueue_if_due(case)
    return case


def _bring_forward(case: Case, user, reason: str) -> None:
    """An undecided case's moment becomes now (the case is locked): once approved, it runs at once."""
    before = {"effective_at": case.effective_at, "immediate": case.immediate}
    case.immediate, case.effective_at = True, timezone.now()
    case.save(update_fields=["immediate", "effective_at", "updated_at"])
    AuditEvent.record(
        "case.revoke_now",
        actor=user,
        case=case,
        before=before,
        after={"effective_at": case.effective_at, "immediate": True, "reason": reason},
    )


def reject(case_id: int, user, reason: str) -> Case:
    _require_approver(user, "reject")
    _require_reason(reason, "to reject")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if not (case.is_decidable or case.is_cancellable):
            raise DecisionError(f"This case is {case.get_state_display().lower()} and can no longer be rejected.")
        case.decided_by, case.decided_at, case.decision_reason = user, timezone.now(), reason
        case.move_to(Case.State.REJECTED, user, after={"reason": reason})
    return case


def retry_case(case_id: int, actor: Actor | Any) -> Case:
    """Resume a failed case at its first unfinished step; nothing already done is done again.

    A person must be an approver; a system actor is someone at the server's shell (`manage.py retry_case`).
    """
    actor = Actor.of(actor)
    if actor.is_person:
        _require_approver(actor.user, "retry a case")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        if case.state != Case.State.FAILED:
            raise DecisionError(f"Only a failed case can be retried; this one is {case.get_state_display().lower()}.")
        case.retry_at = None
        if actor != retries.AUTO_RETRY:  # someone's own retry: should it fail again, a new period of retries
            case.retry_until = None
        case.move_to(Case.State.APPROVED, actor, "case.retry_requested")
    _enqueue_if_due(case)
    return case


def retry_due_cases(now: datetime | None = None) -> list[int]:
    """Retry, as `system:auto_retry`, every case failed on a passing outage whose retry is due (`run_due`).

    One whose period of retries is over stays failed, and the alert list is told. Returns the cases retried.
    """
    now = now or timezone.now()
    retried = []
    for case_id in retries.due(now):
        if retries.give_up_if_over(case_id, now):
            continue
        try:
            retry_case(case_id, retries.AUTO_RETRY)
        except DecisionError:  # a person retried or restored it meanwhile
            continue
        retried.append(case_id)
    return retried


# --- Identity: which Okta user the leaver is, or none ----------------------------------------


def identity_refusal(case: Case) -> str:
    """Why the case's Okta user can no longer be chosen (nor "no Okta account" recorded), or ""."""
    if case.kind != Case.Kind.WORKDAY:
        return "An emergency offboard names its Okta user when it starts; there is nothing to choose."
    if not case.is_decidable:
        return f"This case is {case.get_state_display().lower()}; its Okta user can no longer be changed."
    if case.identity == Case.Identity.EXACT:
        return "The Okta user matches exactly (employee number and name); there is nothing to choose."
    if approvers := list(case.approvals.values_list("user__username", flat=True)):
        return (
            f"{', '.join(approvers)} already approved revoking {case.okta_login}; "
            "reject the case if that is the wrong person."
        )
    return ""


def _require_identity_open(case: Case) -> None:
    if refusal := identity_refusal(case):
        raise DecisionError(refusal)


def _require_storable(text: str) -> None:
    # PostgreSQL stores no NUL character in text or JSON: refuse it here rather than fail on the write.
    if "\x00" in text:
        raise DecisionError("The reason holds a NUL character, which cannot be stored; remove it.")


def _candidates_now(case: Case, okta: OktaClient | None) -> list[Candidate]:
    try:
        return find_candidates(case.termination, okta or OktaClient.from_settings())
    except VendorError as e:
        raise DecisionError(f"Okta could not be reached ({e.summary}); nothing was changed. Try again.") from e


def _second_person_agrees(case: Case, proposal: dict, user, reason: str, protected: str) -> dict | None:
    """A choice involving a protected person takes two approvers: the first one's waits as a proposal.

    Returns the proposal a second, different approver has just agreed to; else records this one and
    returns None. A different choice replaces the proposal (it then waits for someone else).
    """
    pending = case.identity_proposal
    same = bool(pending) and all(pending.get(k) == proposal.get(k) for k in ("outcome", "okta_user_id"))
    if same and pending["by_id"] == user.pk:
        raise DecisionError("You have already proposed this; a second, different approver must confirm it.")
    if same:
        return pending
    case.identity_proposal = {
        **proposal,
        "reason": reason,
        "by": user.get_username(),
        "by_id": user.pk,
        "at": timezone.now().isoformat(),
        "protected": protected,
    }
    case.save(update_fields=["identity_proposal", "updated_at"])
    AuditEvent.record(
        "case.identity_proposed",
        actor=user,
        case=case,
        after={**proposal, "reason": reason, "protected": protected, "waiting_for": "a second approver"},
    )
    return None


def _who_decided(user, reason: str, agreed: dict | None) -> str:
    by = f"{agreed['by']} (“{agreed['reason']}”) and {user.get_username()}" if agreed else user.get_username()
    return f"{by}: “{reason}”"


def choose_identity(case_id: int, user, okta_user_id: str, reason: str, okta: OktaClient | None = None) -> Case:
    """An approver picks the leaver's Okta user among the candidates Okta shows now.

    The plan is computed for that user and protection judged again; the case then waits for its
    approval as any other. A protected user takes two distinct approvers to choose: the first's
    choice waits for a second's.
    """
    _require_approver(user, "choose the Okta user")
    if not okta_user_id:
        raise DecisionError("Choose one of the Okta users listed.")
    _require_reason(reason, "to choose the Okta user")
    _require_storable(reason)
    case = _case_as_it_is(case_id)
    _require_identity_open(case)
    okta = okta or OktaClient.from_settings()
    candidates = _candidates_now(case, okta)
    chosen = next((c for c in candidates if c.user.id == okta_user_id), None)
    if chosen is None:
        raise DecisionError("That Okta user is not among the candidates looked up for this case; nothing was changed.")
    try:
        access = read_access(okta, chosen.user, chosen.groups)
        token_owner = okta.token_owner()
    except VendorError as e:
        raise DecisionError(f"Okta could not be reached ({e.summary}); nothing was changed. Try again.") from e
    own_credentials = token_owner_reason(chosen.user.id, token_owner.id if token_owner else "")
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        _require_identity_open(case)
        other = Case.objects.filter(okta_user_id=chosen.user.id, state__in=(*Case.OPEN_STATES, Case.State.RUNNING))
        if other := other.exclude(pk=case.pk).first():
            raise DecisionError(f"{chosen.user.login} already has an open case (case {other.pk}).")
        protected = protection_reason(chosen.user.id, chosen.user.login, chosen.group_dicts, access.admin_roles)
        proposal = {"outcome": "chosen", "okta_user_id": chosen.user.id, "login": chosen.user.login}
        agreed = _second_person_agrees(case, proposal, user, reason, protected) if protected else None
        if protected and agreed is None:
            return case
        before = {"identity": case.identity, "okta_user_id": case.okta_user_id, "protected": case.protected_reason}
        case.identity = Case.Identity.CHOSEN
        case.identity_note = (
            f"{chosen.user.login} chosen among {len(candidates)} Okta user(s) by {_who_decided(user, reason, agreed)}"
        )
        case.okta_user_id, case.okta_login = chosen.user.id, chosen.user.login
        case.plan = build_plan(chosen.user, chosen.groups, access)
        case.protected_reason, case.identity_proposal = protected, {}
        doubts = [own_credentials] if own_credentials else []
        if protected:
            doubts.append(f"This is a {protected}: two distinct approvers are needed.")
        case.attention_reason = " ".join(doubts)
        case.move_to(
            Case.State.NEEDS_ATTENTION if doubts else Case.State.PENDING_REVIEW,
            user,
            "case.identity_chosen",
            before=before,
            after={
                "identity": case.identity,
                "okta_user_id": chosen.user.id,
                "login": chosen.user.login,
                "reason": reason,
                "proposed_by": agreed["by"] if agreed else None,
                "protected": protected,
                "candidates": [c.as_dict() for c in candidates],
                "remove": len(case.plan["remove"]),
            },
        )
    return case


def close_no_account(case_id: int, user, reason: str, okta: OktaClient | None = None) -> Case:
    """Record that the leaver has no Okta account: nothing to revoke; the case closes, its ticket saying so.

    The Okta users looked up are kept on the case as ruled out. When one of them is protected, it takes
    two distinct approvers: the first's word waits for a second's.
    """
    _require_approver(user, "record that there is no Okta account")
    _require_reason(reason, "to record that there is no Okta account")
    _require_storable(reason)
    case = _case_as_it_is(case_id)
    _require_identity_open(case)
    candidates = _candidates_now(case, okta)
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        _require_identity_open(case)
        protected = "; ".join(f"{c.user.login} is a {why}" for c in candidates if (why := c.protection()))
        proposal = {"outcome": "no_account", "okta_user_id": ""}
        agreed = _second_person_agrees(case, proposal, user, reason, protected) if protected else None
        if protected and agreed is None:
            return case
        now = timezone.now()
        before = {"identity": case.identity, "okta_user_id": case.okta_user_id}
        ruled_out = [c.as_dict() for c in candidates]
        case.identity_note = f"Closed as no Okta account by {_who_decided(user, reason, agreed)}."
        case.plan = {"computed_at": now.isoformat(), "nothing_to_revoke": True, "ruled_out": ruled_out}
        case.okta_user_id, case.okta_login, case.protected_reason = "", "", ""
        case.attention_reason, case.identity_proposal = "", {}
        case.decided_by, case.decided_at, case.decision_reason, case.finished_at = user, now, reason, now
        case.move_to(
            Case.State.NO_ACCOUNT,
            user,
            "case.closed_no_account",
            before=before,
            after={
                "reason": reason,
                "proposed_by": agreed["by"] if agreed else None,
                "ruled_out": ruled_out,
                "protected": protected,
            },
        )
        closed_in = current_request_id()
        transaction.on_commit(lambda: tickets.enqueue_ticket(case.pk, closed_in))
    return case


def start_emergency(okta_user_id: str, user, reason: str) -> Case:
    """An approver asks to offboard an Okta user now, without a Workday termination; a second approver confirms."""
    _require_approver(user, "start an emergency offboard")
    _require_reason(reason, "for an emergency offboard")
    okta = OktaClient.from_settings()
    okta_user = okta.get_user(okta_user_id)
    groups = okta.list_user_groups(okta_user.id)
    plan = build_plan(okta_user, groups, read_access(okta, okta_user, groups))
    token_owner = okta.token_owner()
    if reason_not := token_owner_reason(okta_user.id, token_owner.id if token_owner else ""):
        raise DecisionError(reason_not)
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
            protected_reason=protection_reason(okta_user.id, okta_user.login, plan["groups"], plan["admin_roles"]),
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
            decision=Case.DECISION_FIELDS,
        )
    return case


def close_follow_up(follow_up_id: int, user, note: str) -> FollowUp:
    """An approver says a follow-up is done (or needs no doing), with a note; the sub-task hears it too, and the
    case is completed once none of its follow-ups is open."""
    _require_approver(user, "close a follow-up")
    _require_reason(note, "to close a follow-up (what was done)")
    with transaction.atomic():
        follow_up = FollowUp.objects.select_for_update().select_related("case").filter(pk=follow_up_id).first()
        if follow_up is None:
            raise DecisionError("There is no such follow-up.")
        if not follow_up.is_open:
            raise DecisionError(f"This follow-up was closed already, by {follow_up.closed_by_name}.")
        follow_up.close(user, note.strip())
    follow_ups.comment_on_sub_task(follow_up, f"Closed in Offboarding by {user.get_username()}: {note.strip()}")
    follow_ups.complete_if_done(follow_up.case)
    return follow_up


def request_restore(case_id: int, user, reason: str) -> Case:
    """Ask to give back what a revocation took (rescinded or mistaken); a second person approves."""
    _require_approver(user, "restore access")
    _require_reason(reason, "to restore access")
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
    _require_approver(user, "restore access")
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
        approved_in = current_request_id()
        transaction.on_commit(lambda: restore.enqueue_restore(case.pk, approved_in))
    return case


# --- What admins set: rules, protected accounts, safety settings -------------------------------


def save_audited(form: forms.ModelForm, actor, noun: str, also: tuple[str, ...] = ()) -> models.Model:
    """Save the form and record `<noun>.created` or `<noun>.changed` with what changed.

    `also` names attributes the form sets on its instance beyond its fields (what Okta answered, say).
    """
    creating = form.instance.pk is None
    before_also = {} if creating else dict(type(form.instance).objects.filter(pk=form.instance.pk).values(*also).get())
    with transaction.atomic():
        obj = form.save()
        # What the form changed once cleaned: a login typed in capitals that Okta has in lower case changed nothing.
        changed = (
            list(form.fields)
            if creating
            else [name for name in form.changed_data if form.cleaned_data.get(name) != form.initial.get(name)]
        )
        after_also = {name: getattr(obj, name) for name in also}
        moved = [name for name in also if creating or before_also[name] != after_also[name]]
        AuditEvent.record(
            f"{noun}.created" if creating else f"{noun}.changed",
            actor=actor,
            obj=obj,
            before=None
            if creating
            else {**{name: form.initial.get(name) for name in changed}, **{n: before_also[n] for n in moved}},
            after={**{name: form.cleaned_data.get(name) for name in changed}, **{n: after_also[n] for n in moved}},
        )
    return obj


def save_rule(form: forms.ModelForm, actor) -> tuple[AutoApproveRule, list[Case]]:
    """Save a rule (audited); an enabled one is offered every undecided case at once, as its preview said.

    A new rule is saved disabled, whatever the form says: it is enabled (`set_rule_enabled`) once its preview
    has been seen. Returns the rule and the cases approved by it (or by another rule) now.
    """
    creating = form.instance.pk is None
    if creating:
        form.instance.enabled = False
    rule = save_audited(form, actor, "rule", also=("enabled",) if creating else ())
    return rule, fire_rules_for_open_cases() if rule.enabled else []


def save_protected_account(form: forms.ModelForm, actor) -> ProtectedAccount:
    """Save a protected account the form looked up in Okta (audited with the id and name Okta gave)."""
    return save_audited(form, actor, "protected_account", also=("okta_id", "okta_name"))


def set_rule_enabled(rule_id: int, enabled: bool, actor) -> tuple[AutoApproveRule, list[Case]]:
    """Enable or disable a rule (audited); once enabled it is offered every undecided case at once.

    Returns the rule and the cases approved now.
    """
    with transaction.atomic():
        rule = AutoApproveRule.objects.select_for_update().get(pk=rule_id)
        if rule.enabled == enabled:
            return rule, []
        if enabled and (problems := rule.problems()):
            raise DecisionError(f"“{rule.name}” cannot be enabled until it is fixed: {'; '.join(problems)}")
        # An update, not save() (which validates the whole rule): a malformed rule can always be switched off.
        AutoApproveRule.objects.filter(pk=rule.pk).update(enabled=enabled, updated_at=timezone.now())
        rule.enabled = enabled
        AuditEvent.record(
            "rule.enabled" if enabled else "rule.disabled",
            actor=actor,
            obj=rule,
            before={"enabled": not enabled},
            after={"enabled": enabled},
        )
    return rule, fire_rules_for_open_cases() if enabled else []


def delete_rule(rule_id: int, actor) -> None:
    """Delete a rule (audited, with what it was); one that decided cases is kept as their evidence."""
    with transaction.atomic():
        rule = AutoApproveRule.objects.select_for_update().get(pk=rule_id)
        if decided := rule.case_set.count():
            raise DecisionError(f"“{rule.name}” decided {decided} cases and is kept with them; disable it instead.")
        AuditEvent.record("rule.deleted", actor=actor, obj=rule, before={"enabled": rule.enabled, **rule.conditions()})
        rule.delete()


def delete_protected_account(account_id: int, actor, reason: str) -> None:
    """Stop protecting an account (audited, with what it was and why); a reason is required."""
    _require_reason(reason, "to stop protecting an account")
    with transaction.atomic():
        account = ProtectedAccount.objects.select_for_update().get(pk=account_id)
        AuditEvent.record(
            "protected_account.removed",
            actor=actor,
            obj=account,
            before={
                "kind": account.kind,
                "value": account.value,
                "okta_id": account.okta_id,
                "okta_name": account.okta_name,
                "note": account.note,
            },
            after={"reason": reason},
        )
        account.delete()


def save_safety(form: forms.ModelForm, actor) -> list[Case]:
    """Save the safety settings the form changed (audited, before and after).

    A change of when access goes reschedules every open case it moves (each `case.rescheduled`);
    returns those cases.
    """
    with transaction.atomic():
        safety = SafetySettings.objects.select_for_update().get(pk=form.instance.pk)
        changed = [
            name
            for name in form.changed_data
            if name in SafetySettings.SETTINGS and getattr(safety, name) != form.cleaned_data[name]
        ]
        if not changed:
            return []
        before = {name: getattr(safety, name) for name in changed}
        for name in changed:
            setattr(safety, name, form.cleaned_data[name])
        # Only what the form set: the breaker's state and the report counts, kept by a sync meanwhile, stay.
        safety.save(update_fields=changed)
        after = {name: getattr(safety, name) for name in changed}
        AuditEvent.record("safety.changed", actor=actor, obj=safety, before=before, after=after)
        if not set(changed) & set(SafetySettings.SCHEDULING):
            return []
        return _reschedule_open_cases(safety, actor)


def _reschedule_open_cases(safety: SafetySettings, actor) -> list[Case]:
    """Every open case not started, moved to the moment the settings now give it (as a correction in Workday would)."""
    open_cases = (
        Case.objects.select_for_update(of=("self",))
        .select_related("termination")
        .filter(state__in=Case.OPEN_STATES, started_at=None, termination__isnull=False)
        .order_by("pk")
    )
    moved, events = [], []
    for case in open_cases:
        before = {"effective_at": case.effective_at, "immediate": case.immediate}
        case.schedule(safety)
        if case.effective_at == before["effective_at"]:
            continue
        case.save()
        moved.append(case)
        events.append(
            AuditEvent.entry(
                "case.rescheduled",
                actor=actor,
                case=case,
                before=before,
                after={"effective_at": case.effective_at, "immediate": case.immediate, "reason": "safety settings"},
                decision=("effective_at",),
            )
        )
    AuditEvent.record_many(events)
    return moved


@transaction.atomic
def reset_breaker(user) -> None:
    safety = SafetySettings.objects.select_for_update().get(pk=SafetySettings.load().pk)
    if not safety.breaker_tripped:
        return
    before = {"tripped_at": safety.breaker_tripped_at, "reason": safety.breaker_reason}
    safety.breaker_tripped_at = None
    safety.breaker_reason = ""
    safety.breaker_reset_at = timezone.now()
    safety.save()
    AuditEvent.record("safety.breaker_reset", actor=user, obj=safety, before=before, after={"tripped_at": None})
