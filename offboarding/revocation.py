"""The revocation: from an approved case to a deactivated Okta user and a Jira ticket holding the evidence.

Read it top to bottom. A django-q2 task (or `manage.py run_due`) calls
`run_case`, which claims the case with a conditional update and a lease, then:

  1. reads the Okta user, their admin roles and all of their groups live (resolve, snapshot), and stops
     there, changing nothing, when the user owns the product's own Okta credentials (`users/me`), or is
     protected now (a protected list entry, or admin roles) and the case lacks two distinct approvals;
  2. removes every OKTA_GROUP membership (BUILT_IN and APP_GROUP are noted, not touched);
  3. clears sessions and revokes OAuth tokens, and, when one of the person's apps offers it, asks for
     Universal Logout so those apps end their own sessions too;
  4. deactivates the user (lifecycle, never delete);
  5. verifies by reading back: DEPROVISIONED, no OKTA_GROUP membership left;
  6. files the Jira ticket (once per case, ever) with the evidence attached;
  7. opens a follow-up for what Okta will not undo (an app's own account, the source directory, a group
     ownership), each a Jira sub-task of the ticket: the case is "revoked in Okta" until all are closed
     (see `offboarding/follow_ups.py`).

Every step is a `Step` row, unique per (case, kind, target), and an audit
event (see `offboarding/steps.py`). A re-run — a second delivery, a crashed
worker's successor, a retry — skips the steps already done, so no ticket is
filed twice and no call is made twice, except those a dying worker had in
flight (at most one batch of removals; Okta answers a repeated change as done).
A membership that cannot be removed does not stop deactivation: locking the
person out matters most; the case then ends `failed`, naming what is still in
place. Nor does anything Workday says meanwhile (a rescind, a corrected date):
the sync leaves a running case running and notes it, and once the lockout is
verified and ticketed the case goes to `needs_attention` for a person (a restore).
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import capfirst

from offboarding import follow_ups, retries
from offboarding.alerts import send_alert
from offboarding.clients.jira import JiraClient
from offboarding.clients.okta import DEPROVISIONED, OktaClient
from offboarding.identity import Holdings, plan_access, token_owner_reason, universal_logout_apps
from offboarding.models import AuditEvent, Case, FollowUp, Step
from offboarding.request_id import current_request_id
from offboarding.request_id import request_id as under_request_id
from offboarding.steps import (
    ACTOR,
    LeaseLost,
    StepFailed,
    enqueue_case_job,
    lease_length,
    leave_alone,
    new_lease_owner,
    perform,
    perform_many,
)
from offboarding.tickets import comment_on_ticket, file_ticket

log = logging.getLogger(__name__)


class HeldProtected(Exception):
    """The person is protected now and the case lacks two distinct approvals: stopped before any change."""


class HeldTokenOwner(HeldProtected):
    """The person owns the product's own Okta credentials: never revoked by the product."""


# --- Scheduling and claiming ------------------------------------------------------


def enqueue(case_id: int, request_id: str = "") -> None:
    enqueue_case_job("offboarding.revocation.run_case", "revoke", case_id, request_id)


def claim(case_id: int, owner: str) -> bool:
    now = timezone.now()
    claimed = (
        Case.objects.due(now)
        .filter(pk=case_id)
        .update(
            state=Case.State.RUNNING,
            lease_owner=owner,
            lease_until=now + lease_length(),
            started_at=Coalesce("started_at", now),
        )
    )
    # Nothing got updated: another worker got there first, or the case is not due.
    return claimed == 1


def run_case(case_id: int, request_id: str = "", okta: OktaClient | None = None, jira: JiraClient | None = None) -> str:
    """The django-q2 task: claim the case, revoke, file the ticket. Safe to deliver twice.

    Its audit events carry `request_id`, the id of the request that decided the case (or of the
    command running it); `okta` and `jira` are clients other than the configured ones.
    """
    with under_request_id(request_id or current_request_id() or None):
        owner = new_lease_owner()
        if not claim(case_id, owner):
            return "nothing to do"
        case = Case.objects.select_related("termination").get(pk=case_id)
        AuditEvent.record("case.started", actor=ACTOR, case=case, after={"worker": owner})
        okta = okta or OktaClient.from_settings()
        try:
            try:
                revoke(case, okta, owner)
                finish(case, owner)
            except (OperationalError, InterfaceError) as e:
                # The database went away mid-case (a restart, a failover, a killed backend). Every step done
                # so far is committed with its audit event, so resume on a new connection; if the database
                # is still away, this raises again and the lease running out hands the case on.
                if connection.in_atomic_block:
                    raise
                log.warning("Case %s: database connection lost (%s); resuming on a new connection", case_id, e)
                connection.close()
                revoke(case, okta, owner)
                finish(case, owner)
        except LeaseLost:
            log.warning("Case %s was taken over by another worker", case_id)
            return "lease lost"
        except HeldProtected:
            return Case.State.NEEDS_ATTENTION
        if case.ticket == Case.Ticket.FILED:
            said = case.attention_reason if case.state == Case.State.NEEDS_ATTENTION else case.failure_summary
            comment_on_ticket(case, f"Re-run {case.get_state_display().lower()}. {said}".strip(), jira)
        else:
            file_ticket(case, jira)
        follow_ups.file_sub_tasks(case, jira)
        return case.state


# --- The steps, in this order ----------------------------------------------------------


def revoke(case: Case, okta: OktaClient, owner: str) -> None:
    user_id = case.okta_user_id

    # 1. Read the user and all of their groups live, not the list shown at review time:
    #    anything added since is removed too, and noted.
    def resolve() -> dict:
        owner_user = okta.token_owner()
        return {
            "user": okta.get_user(user_id).as_dict(),
            "admin_roles": okta.list_user_roles(user_id),
            "token_owner_id": owner_user.id if owner_user else "",
        }

    resolved = perform(case, owner, Step.Kind.RESOLVE, resolve, target=user_id)

    def snapshot() -> dict:
        groups = [g.as_dict() for g in okta.list_user_groups(user_id)]
        reviewed = {g["id"] for g in case.plan.get("groups", [])}
        added = [g for g in groups if case.plan and g["id"] not in reviewed]
        return {"groups": groups, "added_since_review": added}

    groups = perform(case, owner, Step.Kind.SNAPSHOT, snapshot, target=user_id)

    # Protection is judged again from what was just read and the current protected list: someone made
    # protected since the approval is not revoked on fewer than two people's word. Nothing is changed yet.
    hold_if_token_owner(case, owner, resolved)
    hold_if_protected(case, owner, resolved, groups)

    # 2. Remove every OKTA_GROUP membership, several at once; Okta refuses the others, so they are
    #    noted instead. Without a group list nothing can be removed, but deactivation still must not wait.
    listed = groups.detail.get("groups", []) if groups.status == Step.Status.DONE else []
    leave_alone(case, [g for g in listed if g["type"] != "OKTA_GROUP"])
    perform_many(
        case,
        owner,
        Step.Kind.REMOVE_GROUP,
        [
            (g["id"], g["name"], lambda gid=g["id"]: okta.remove_from_group(gid, user_id) or {"removed": True})
            for g in listed
            if g["type"] == "OKTA_GROUP"
        ],
    )

    # 3. End every session and revoke the OAuth tokens issued to the user.
    perform(
        case,
        owner,
        Step.Kind.CLEAR_SESSIONS,
        lambda: okta.clear_sessions(user_id) or {"sessions": "cleared", "oauth_tokens": "revoked"},
        target=user_id,
    )

    # 3b. Apps that offer Universal Logout end the sessions they issued themselves (Okta's global token
    #     revocation, one call for all of them); the others are follow-ups ("end the app's sessions").
    if logout_apps := universal_logout_apps(case.plan or {}):
        perform(
            case,
            owner,
            Step.Kind.UNIVERSAL_LOGOUT,
            lambda: okta.universal_logout(user_id) or {"apps": [a.get("label", a.get("id")) for a in logout_apps]},
            target=user_id,
        )

    # 4. Deactivate (lifecycle, never delete): the hammer drops last. The user was read in step 1
    #    and is read back in step 5, so the lifecycle call goes alone.
    def deactivate() -> dict:
        if resolved.detail.get("user", {}).get("status") == DEPROVISIONED:
            return {"already": DEPROVISIONED}
        answer = okta.deactivate(user_id)
        return {"deactivated": True} if answer == "deactivated" else {"answer": answer}

    perform(case, owner, Step.Kind.DEACTIVATE, deactivate, target=user_id)

    # 5. Nothing is reported done that was not read back.
    perform(case, owner, Step.Kind.VERIFY, lambda: verify(okta, user_id), target=user_id)


def hold_if_token_owner(case: Case, owner: str, resolved: Step) -> None:
    """Stop before any change when the person owns the product's own Okta credentials (`users/me`).

    Judged from what was just read (`users/me` with the credentials this run uses).
    """
    token_owner = resolved.detail.get("token_owner_id", "") if resolved.status == Step.Status.DONE else ""
    reason = token_owner_reason(case.okta_user_id, token_owner)
    if not reason:
        return
    with transaction.atomic():
        lock_ours(case, owner)
        case.attention_reason = f"{reason} Nothing was changed in Okta."
        back_to_a_person(case)
        case.move_to(
            Case.State.NEEDS_ATTENTION,
            ACTOR,
            "case.held_token_owner",
            after={"reason": case.attention_reason, "token_owner_id": token_owner},
        )
    send_alert(
        f"Case {case.pk} held: {case.person_name} owns the product's Okta token",
        f"{case.attention_reason}\n\n{case.site_url}",
    )
    raise HeldTokenOwner(case.attention_reason)


def hold_if_protected(case: Case, owner: str, resolved: Step, groups: Step) -> None:
    """Stop before any change when the person is protected now and the case lacks two distinct approvals.

    The case goes back to needs_attention, decidable again (its decision is cleared, a person's approval
    stays as the first of two), and its reads are made again when it runs; on call are told.
    """
    if resolved.status == Step.Status.DONE and groups.status == Step.Status.DONE:
        user = resolved.detail["user"]
        roles = resolved.detail.get("admin_roles", plan_access(case.plan or {})["admin_roles"])
        holdings = Holdings(user["id"], user["login"], groups.detail["groups"], live=True, admin_roles=roles)
    else:  # Okta did not answer the reads: judge from what was stored at review
        holdings = Holdings.stored(case, "Okta did not answer the reads before revocation")
    protected = case.protected_reason or holdings.protection()  # once protected, always (decisions.py)
    approvers = list(case.approvals.order_by("at").values_list("user__username", flat=True))
    if not protected or len(approvers) >= 2:
        if protected != case.protected_reason:  # for the record: the evidence says what was judged
            Case.objects.filter(pk=case.pk).update(protected_reason=protected)
            AuditEvent.record(
                "case.protection_changed",
                actor=ACTOR,
                case=case,
                before={"protected": case.protected_reason},
                after={"protected": protected, "judged_from": holdings.source},
            )
            case.protected_reason = protected
        return
    with transaction.atomic():
        lock_ours(case, owner)
        decided_by = case.decided_by.get_username() if case.decided_by else ""
        before = {"protected": case.protected_reason, "decided_by": decided_by, "rule": case.rule_snapshot or None}
        approved_by = ", ".join(approvers) or (f"rule “{case.rule_snapshot.get('name')}”" if case.rule_snapshot else "")
        case.protected_reason = protected
        case.attention_reason = (
            f"Protected since it was approved: this is a {protected}, and only {approved_by or 'nobody'} approved it; "
            "two distinct approvers are needed. Nothing was changed in Okta."
        )
        back_to_a_person(case)
        case.move_to(
            Case.State.NEEDS_ATTENTION,
            ACTOR,
            "case.held_protected",
            before=before,
            after={"reason": case.attention_reason, "protected": protected, "approvers": approvers},
        )
    send_alert(f"Case {case.pk} held: {case.person_name} is protected", f"{case.attention_reason}\n\n{case.site_url}")
    raise HeldProtected(case.attention_reason)


def lock_ours(case: Case, owner: str) -> None:
    """Lock the running case (inside the caller's transaction) and read it afresh; LeaseLost if it is not ours now."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if locked.state != Case.State.RUNNING or locked.lease_owner != owner:
        raise LeaseLost(f"case {case.pk} is no longer ours")
    case.refresh_from_db()


def back_to_a_person(case: Case) -> None:
    """A held case is decidable again: its decision and lease are cleared (a person's approval stays, as the
    first of two), and its reads are made again when it runs. The caller moves it to needs attention."""
    case.decided_by, case.decided_by_rule, case.rule_snapshot = None, None, {}
    case.decided_at, case.decision_reason = None, ""
    case.started_at, case.lease_owner, case.lease_until = None, "", None
    case.steps.filter(kind__in=[Step.Kind.RESOLVE, Step.Kind.SNAPSHOT]).update(status=Step.Status.PENDING)


def verify(okta: OktaClient, user_id: str) -> dict:
    user = okta.get_user(user_id)
    groups = [g.as_dict() for g in okta.list_user_groups(user_id)]
    left = [g for g in groups if g["type"] == "OKTA_GROUP"]
    detail = {"user": user.as_dict(), "groups_after": groups, "okta_groups_left": left}
    problems = []
    if not user.is_deprovisioned:
        problems.append(f"status is {user.status}, not DEPROVISIONED")
    if left:
        problems.append("OKTA_GROUP memberships left: " + ", ".join(g["name"] for g in left))
    if problems:
        raise StepFailed("Verification failed: " + "; ".join(problems), detail)
    return detail


# --- The outcome ------------------------------------------------------------------


# What a step that is not done leaves in place, in the words of both accounts below.
LEFT_IN_PLACE = {
    Step.Kind.DEACTIVATE: "the Okta user is NOT deactivated",
    Step.Kind.CLEAR_SESSIONS: "sessions and OAuth tokens may still be valid",
    Step.Kind.UNIVERSAL_LOGOUT: "apps with Universal Logout may still hold sessions",
}


def what_is_not_done(steps: list[Step]) -> str:
    """In plain words, what is still in place after this run: a line for each failed step, with Okta's answer."""
    lines = []
    for step in steps:
        if step.status != Step.Status.FAILED:
            continue
        why = step.detail.get("error", "")
        if step.kind == Step.Kind.REMOVE_GROUP:
            lines.append(f"Still a member of “{step.target_name}” ({step.target}): {why}")
        elif step.kind in LEFT_IN_PLACE:
            lines.append(f"{capfirst(LEFT_IN_PLACE[step.kind])}: {why}")
        elif step.kind == Step.Kind.VERIFY:
            lines.append(why if why.startswith("Verification") else f"Could not verify the result: {why}")
        else:
            lines.append(f"{step.get_kind_display()} failed: {why}")
    return "\n".join(lines)


def still_in_place(steps: list[Step]) -> str:
    """In one sentence, what a failed run left in place: "The Okta user is NOT deactivated; 3 groups remain"."""
    by_kind: dict[str, list[Step]] = {}
    for step in steps:
        by_kind.setdefault(step.kind, []).append(step)

    def done(kind: str) -> bool:
        return any(s.status == Step.Status.DONE for s in by_kind.get(kind, []))

    removals = by_kind.get(Step.Kind.REMOVE_GROUP, [])
    remain = sum(1 for s in removals if s.status in (Step.Status.FAILED, Step.Status.PENDING))
    deactivated = done(Step.Kind.DEACTIVATE)
    parts = ["The Okta user is deactivated" if deactivated else capfirst(LEFT_IN_PLACE[Step.Kind.DEACTIVATE])]
    if not done(Step.Kind.SNAPSHOT):
        parts.append("their groups could not be read, so none was removed")
    elif remain:
        parts.append(f"{remain} group membership{'s' if remain != 1 else ''} remain{'s' if remain == 1 else ''}")
    if not done(Step.Kind.CLEAR_SESSIONS):
        parts.append(LEFT_IN_PLACE[Step.Kind.CLEAR_SESSIONS])
    if by_kind.get(Step.Kind.UNIVERSAL_LOGOUT) and not done(Step.Kind.UNIVERSAL_LOGOUT):
        parts.append(LEFT_IN_PLACE[Step.Kind.UNIVERSAL_LOGOUT])
    if deactivated and not done(Step.Kind.VERIFY):
        parts.append("the result is not verified")
    return "; ".join(parts) + "."


def finish(case: Case, owner: str) -> None:
    """The case's outcome: failed, completed, or — when Workday changed its mind while the lockout ran (a
    rescind, a corrected date) — needs attention, now that the lockout is finished and verified."""
    steps = list(case.steps.exclude(kind=Step.Kind.FILE_TICKET))
    failed = [s for s in steps if s.status == Step.Status.FAILED]
    verified = next((s for s in steps if s.kind == Step.Kind.VERIFY and s.status == Step.Status.DONE), None)
    with transaction.atomic():
        lock_ours(case, owner)
        case.finished_at = timezone.now()
        case.revoked_at = verified.finished_at if verified else None
        case.failure_summary = what_is_not_done(failed)
        case.lease_owner, case.lease_until = "", None
        # A failed case keeps what arrived meanwhile until a retry finishes the lockout.
        attention = "" if failed else case.attention_after_run
        if attention:
            case.attention_reason, case.attention_after_run = attention, ""
        if failed:
            outlook = retries.after_failure(case, failed, case.finished_at)
        else:
            case.retry_at = case.retry_until = None
            # What Okta will not undo becomes work for people, tracked until each is closed.
            follow_ups.open_for(case)
        if failed:
            outcome = Case.State.FAILED
        elif attention:
            outcome = Case.State.NEEDS_ATTENTION
        elif case.follow_ups.filter(status=FollowUp.Status.OPEN).exists():
            outcome = Case.State.REVOKED_IN_OKTA
        else:
            outcome = Case.State.COMPLETED
        case.move_to(
            outcome,
            ACTOR,
            after={
                "revoked_at": case.revoked_at,
                "time_to_revoke_seconds": case.time_to_revoke.total_seconds() if case.time_to_revoke else None,
                "not_done": case.failure_summary,
                **({"reason": attention} if attention else {}),
            },
        )
        if failed:
            retries.record(case, outlook)
    if failed and outlook.alert:
        send_alert(
            f"Case {case.pk} FAILED: {case.person_name}",
            f"{case.failure_summary}\n\n{outlook.sentence}\n\n{case.site_url}",
        )
    elif attention:
        send_alert(
            f"Case {case.pk} needs attention: {case.person_name}",
            f"Access is revoked and verified. {attention}\n\n{case.site_url}",
        )
