"""The revocation: from an approved case to a deactivated Okta user and a Jira ticket holding the evidence.

Read it top to bottom. A django-q2 task (or `manage.py run_due`) calls
`run_case`, which claims the case with a conditional update and a lease, then:

  1. reads the Okta user and all of their groups live (resolve, snapshot);
  2. removes every OKTA_GROUP membership (BUILT_IN and APP_GROUP are noted, not touched);
  3. clears sessions and revokes OAuth tokens;
  4. deactivates the user (lifecycle, never delete);
  5. verifies by reading back: DEPROVISIONED, no OKTA_GROUP membership left;
  6. files the Jira ticket (once per case, ever) with the evidence attached.

Every step is a `Step` row, unique per (case, kind, target), and an audit
event. A re-run — a second delivery, a crashed worker's successor, a retry —
skips the steps already done, so no ticket is filed twice and no call is made
twice, except those a dying worker had in flight (at most one batch of
removals; Okta answers a repeated change as done). A membership that cannot be
removed does not stop deactivation: locking the person out matters most; the
case then ends `failed`, naming what is still in place.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.tasks import async_task

from offboarding.clients import adf
from offboarding.clients.errors import NotFound, VendorError
from offboarding.clients.jira import JiraClient
from offboarding.clients.okta import DEPROVISIONED, OktaClient, OktaGroup, OktaUser
from offboarding.models import AuditEvent, Case, ReconciliationRun, Step
from offboarding.services import send_alert

log = logging.getLogger(__name__)

ACTOR = "system:revocation"


class LeaseLost(Exception):
    """Another worker took the case over (our lease expired); stop without touching it."""


# --- Scheduling and claiming ------------------------------------------------------


def enqueue(case_id: int) -> None:
    async_task("offboarding.revocation.run_case", case_id, task_name=f"revoke-case-{case_id}", group="revocation")


def enqueue_restore(case_id: int) -> None:
    async_task("offboarding.revocation.restore_case", case_id, task_name=f"restore-case-{case_id}", group="revocation")


def due_cases() -> list[int]:
    """Approved cases whose moment has come, and running ones whose worker stopped renewing its lease."""
    now = timezone.now()
    runnable = Q(state__in=Case.RUNNABLE_STATES, effective_at__lte=now) | Q(
        state=Case.State.RUNNING, lease_until__lt=now
    )
    return list(Case.objects.filter(runnable).order_by("effective_at").values_list("pk", flat=True))


def lease_length() -> timedelta:
    return timedelta(seconds=settings.REVOCATION_LEASE_SECONDS)


def claim(case_id: int, owner: str) -> bool:
    now = timezone.now()
    claimable = Q(state__in=Case.RUNNABLE_STATES, effective_at__lte=now) | Q(
        state=Case.State.RUNNING, lease_until__lt=now
    )
    claimed = Case.objects.filter(claimable, pk=case_id).update(
        state=Case.State.RUNNING,
        lease_owner=owner,
        lease_until=now + lease_length(),
        started_at=Coalesce("started_at", now),
    )
    # Nothing got updated: another worker got there first, or the case is not due.
    return claimed == 1


def renew_lease(case: Case, owner: str) -> None:
    renewed = Case.objects.filter(pk=case.pk, state=Case.State.RUNNING, lease_owner=owner).update(
        lease_until=timezone.now() + lease_length()
    )
    if not renewed:
        raise LeaseLost(f"case {case.pk} is no longer ours")


def run_case(case_id: int) -> str:
    """The django-q2 task: claim the case, revoke, file the ticket. Safe to deliver twice."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if not claim(case_id, owner):
        return "nothing to do"
    case = Case.objects.select_related("termination").get(pk=case_id)
    AuditEvent.record("case.started", actor=ACTOR, case=case, after={"worker": owner})
    try:
        try:
            revoke(case, OktaClient.from_settings(), owner)
            finish(case, owner)
        except (OperationalError, InterfaceError) as e:
            # The database went away mid-case (a restart, a failover, a killed backend). Every step done
            # so far is committed with its audit event, so resume on a new connection; if the database
            # is still away, this raises again and the lease running out hands the case on.
            if connection.in_atomic_block:
                raise
            log.warning("Case %s: database connection lost (%s); resuming on a new connection", case_id, e)
            connection.close()
            revoke(case, OktaClient.from_settings(), owner)
            finish(case, owner)
    except LeaseLost:
        log.warning("Case %s was taken over by another worker", case_id)
        return "lease lost"
    if case.ticket == Case.Ticket.FILED:
        comment_on_ticket(case, f"Re-run {case.get_state_display().lower()}. {case.failure_summary}".strip())
    else:
        file_ticket(case)
    return case.state


# --- The steps --------------------------------------------------------------------


# A vendor's name longer than the column is cut on the step (the full one stays in the step's detail).
TARGET_NAME_LENGTH = Step._meta.get_field("target_name").max_length


class StepFailed(Exception):
    """A step whose call succeeded but whose result is not what it must be (verification)."""

    def __init__(self, message: str, detail: dict) -> None:
        super().__init__(message)
        self.detail = detail


def perform(
    case: Case, owner: str | None, kind: str, action: Callable[[], dict], target: str = "", target_name: str = ""
) -> Step:
    """Run one step unless it is already done; record its result as a Step and an audit event."""
    return perform_many(case, owner, kind, [(target, target_name, action)])[0]


def perform_many(
    case: Case, owner: str | None, kind: str, work: list[tuple[str, str, Callable[[], dict]]]
) -> list[Step]:
    """`perform` for several steps of one kind, e.g. the group removals: (target, target name, action) each.

    The calls go up to REVOCATION_PARALLEL_CALLS at a time (in threads, so an action must not touch
    the database); each such batch's steps and audit events are written together once its calls
    have answered, so a worker that dies mid-batch makes at most that batch's calls again.
    """
    steps = steps_for(case, kind, {target: name for target, name, _ in work})
    actions = {target: action for target, _, action in work}
    todo = [s for s in steps if s.status not in (Step.Status.DONE, Step.Status.SKIPPED)]
    size = settings.REVOCATION_PARALLEL_CALLS
    with ThreadPoolExecutor(max_workers=size) if len(todo) > 1 else contextlib.nullcontext() as pool:
        for batch in (todo[i : i + size] for i in range(0, len(todo), size)):
            if owner:
                renew_lease(case, owner)
            # The batch's calls at the same time (a single one runs here), written once all have answered.
            list((pool.map if pool else map)(lambda step: attempt(step, actions[step.target]), batch))
            record(case, kind, batch)
    return steps


def steps_for(case: Case, kind: str, targets: dict[str, str]) -> list[Step]:
    """The case's steps of `kind` for these targets (target -> name), in order; new ones pending."""
    existing = Step.objects.filter(case=case, kind=kind, target__in=list(targets))
    steps = {s.target: s for s in existing}
    missing = [
        Step(case=case, kind=kind, target=target, target_name=name[:TARGET_NAME_LENGTH])
        for target, name in targets.items()
        if target not in steps
    ]
    if missing:
        try:
            with transaction.atomic():
                Step.objects.bulk_create(missing)
            steps |= {s.target: s for s in missing}
        except IntegrityError:  # created meanwhile by a worker that held the case before us
            steps = {s.target: s for s in existing.all()}
    return [steps[target] for target in targets]


def attempt(step: Step, action: Callable[[], dict]) -> None:
    """Make the step's call; its outcome (done, or failed with the vendor's error) goes on the step."""
    step.attempts += 1
    step.started_at = timezone.now()
    step.http_status, step.vendor_code, step.vendor_error_id, step.vendor_request_id = None, "", "", ""
    try:
        step.detail, step.status = action(), Step.Status.DONE
    except VendorError as e:
        step.status, step.http_status = Step.Status.FAILED, e.status
        step.vendor_code, step.vendor_error_id, step.vendor_request_id = e.code, e.error_id, e.request_id
        step.detail = {"error": str(e)}
    except StepFailed as e:
        step.status, step.detail = Step.Status.FAILED, {"error": str(e), **e.detail}
    step.finished_at = timezone.now()


STEP_RESULT_FIELDS = [
    "status",
    "attempts",
    "http_status",
    "vendor_code",
    "vendor_error_id",
    "vendor_request_id",
    "detail",
    "started_at",
    "finished_at",
]


def record(case: Case, kind: str, steps: list[Step]) -> None:
    """Save the steps' outcomes with one audit event each, in one transaction."""
    service = "jira" if kind == Step.Kind.FILE_TICKET else "okta"
    with transaction.atomic():
        for step in steps:  # one plain UPDATE each: bulk_update's CASE expressions cost more to build
            step.save(update_fields=STEP_RESULT_FIELDS)
        AuditEvent.record_many(
            [
                AuditEvent.entry(
                    f"{service}.{kind}.{step.status}",
                    actor=ACTOR,
                    case=case,
                    obj=step,
                    after={
                        "target": step.target,
                        "target_name": step.target_name,
                        "attempt": step.attempts,
                        "http_status": step.http_status,
                        "vendor_code": step.vendor_code,
                        "vendor_error_id": step.vendor_error_id,
                        "vendor_request_id": step.vendor_request_id,
                        "detail": step.detail,
                    },
                )
                for step in steps
            ]
        )


def leave_alone(case: Case, groups: list[dict]) -> None:
    """Record the memberships Okta does not let us remove (BUILT_IN, APP_GROUP), once each."""
    with transaction.atomic():
        noted = set(
            Step.objects.filter(
                case=case, kind=Step.Kind.REMOVE_GROUP, target__in=[g["id"] for g in groups]
            ).values_list("target", flat=True)
        )
        steps = [
            Step(
                case=case,
                kind=Step.Kind.REMOVE_GROUP,
                target=group["id"],
                target_name=group["name"][:TARGET_NAME_LENGTH],
                status=Step.Status.SKIPPED,
                detail={
                    "type": group["type"],
                    "reason": group["reason"],
                    "manual_follow_up": group["type"] == "APP_GROUP",
                },
                finished_at=timezone.now(),
            )
            for group in groups
            if group["id"] not in noted
        ]
        Step.objects.bulk_create(steps)
        AuditEvent.record_many(
            [AuditEvent.entry("okta.group_not_removable", actor=ACTOR, case=case, obj=s, after=s.detail) for s in steps]
        )


def user_data(user: OktaUser) -> dict:
    name = f"{user.first_name} {user.last_name}".strip()
    return {"id": user.id, "status": user.status, "login": user.login, "name": name}


def group_data(group: OktaGroup) -> dict:
    return {"id": group.id, "name": group.name, "type": group.type, "reason": group.not_removable_reason}


def revoke(case: Case, okta: OktaClient, owner: str) -> None:
    user_id = case.okta_user_id

    # 1. Read the user and all of their groups live, not the list shown at review time:
    #    anything added since is removed too, and noted.
    resolved = perform(
        case, owner, Step.Kind.RESOLVE, lambda: {"user": user_data(okta.get_user(user_id))}, target=user_id
    )

    def snapshot() -> dict:
        groups = [group_data(g) for g in okta.list_user_groups(user_id)]
        reviewed = {g["id"] for g in case.plan.get("groups", [])}
        added = [g for g in groups if case.plan and g["id"] not in reviewed]
        return {"groups": groups, "added_since_review": added}

    groups = perform(case, owner, Step.Kind.SNAPSHOT, snapshot, target=user_id)

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

    # 4. Deactivate (lifecycle, never delete): the hammer drops last. The user was read in step 1
    #    and is read back in step 5, so the lifecycle call goes alone.
    def deactivate() -> dict:
        if resolved.detail.get("user", {}).get("status") == DEPROVISIONED:
            return {"already": DEPROVISIONED}
        try:
            okta.request_deactivation(user_id)
        except NotFound as e:
            # Okta's answer when the user is already deprovisioned, e.g. our own earlier attempt went
            # through but its answer was lost; the read-back below says whether that is so.
            return {"answer": str(e)}
        return {"deactivated": True}

    perform(case, owner, Step.Kind.DEACTIVATE, deactivate, target=user_id)

    # 5. Nothing is reported done that was not read back.
    perform(case, owner, Step.Kind.VERIFY, lambda: verify(okta, user_id), target=user_id)


def verify(okta: OktaClient, user_id: str) -> dict:
    user = okta.get_user(user_id)
    groups = okta.list_user_groups(user_id)
    left = [group_data(g) for g in groups if g.type == "OKTA_GROUP"]
    detail = {"user": user_data(user), "groups_after": [group_data(g) for g in groups], "okta_groups_left": left}
    problems = []
    if not user.is_deprovisioned:
        problems.append(f"status is {user.status}, not DEPROVISIONED")
    if left:
        problems.append("OKTA_GROUP memberships left: " + ", ".join(g["name"] for g in left))
    if problems:
        raise StepFailed("Verification failed: " + "; ".join(problems), detail)
    return detail


# --- The outcome ------------------------------------------------------------------


def what_is_not_done(steps: list[Step]) -> str:
    """In plain words, what is still in place after this run."""
    lines = []
    for step in steps:
        if step.status != Step.Status.FAILED:
            continue
        why = step.detail.get("error", "")
        if step.kind == Step.Kind.REMOVE_GROUP:
            lines.append(f"Still a member of “{step.target_name}” ({step.target}): {why}")
        elif step.kind == Step.Kind.CLEAR_SESSIONS:
            lines.append(f"Sessions and OAuth tokens may still be valid: {why}")
        elif step.kind == Step.Kind.DEACTIVATE:
            lines.append(f"The Okta user is NOT deactivated: {why}")
        elif step.kind == Step.Kind.VERIFY:
            lines.append(why if why.startswith("Verification") else f"Could not verify the result: {why}")
        else:
            lines.append(f"{step.get_kind_display()} failed: {why}")
    return "\n".join(lines)


def finish(case: Case, owner: str) -> None:
    steps = list(case.steps.exclude(kind=Step.Kind.FILE_TICKET))
    failed = [s for s in steps if s.status == Step.Status.FAILED]
    verified = next((s for s in steps if s.kind == Step.Kind.VERIFY and s.status == Step.Status.DONE), None)
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.state != Case.State.RUNNING or locked.lease_owner != owner:
            raise LeaseLost(f"case {case.pk} is no longer ours")
        before = {"state": locked.state}
        case.refresh_from_db()
        case.finished_at = timezone.now()
        case.revoked_at = verified.finished_at if verified else None
        case.state = Case.State.FAILED if failed else Case.State.COMPLETED
        case.failure_summary = what_is_not_done(failed)
        case.lease_owner, case.lease_until = "", None
        case.save()
        AuditEvent.record(
            f"case.{case.state}",
            actor=ACTOR,
            case=case,
            before=before,
            after={
                "state": case.state,
                "revoked_at": case.revoked_at,
                "time_to_revoke_seconds": case.time_to_revoke.total_seconds() if case.time_to_revoke else None,
                "not_done": case.failure_summary,
            },
        )
    if failed:
        send_alert(
            f"Case {case.pk} FAILED: {case.person_name}",
            f"{case.failure_summary}\n\n{settings.SITE_URL}{case.get_absolute_url()}",
        )


# --- The ticket -------------------------------------------------------------------


def file_ticket(case: Case) -> None:
    """File the case's one ticket with the evidence attached; when Jira is down, leave it pending.

    The ticket is found by the case's label before one is created, so a crash
    between creating it and saving its key never files a second one.
    """
    jira = JiraClient.from_settings()

    def find_or_create() -> dict:
        found = jira.find_issues_by_label(case.label)
        issue = (
            found[0]
            if found
            else jira.create_issue(ticket_summary(case), ticket_description(case), [case.label, "offboarding"])
        )
        Case.objects.filter(pk=case.pk).update(jira_key=issue.key)
        case.jira_key = issue.key
        return {"key": issue.key, "url": issue.url, "found_existing": bool(found)}

    issue = perform(case, None, Step.Kind.FILE_TICKET, find_or_create, target="issue", target_name="Jira ticket")
    if issue.status != Step.Status.DONE:
        return ticket_pending(case)
    evidence = json.dumps(evidence_of(case), cls=DjangoJSONEncoder, indent=2).encode()
    filename = f"offboarding-case-{case.pk}-evidence.json"
    tried_before = Step.objects.filter(case=case, kind=Step.Kind.FILE_TICKET, target="evidence", attempts__gt=0)

    def attach() -> dict:
        # An earlier attempt whose answer was lost may have attached it already: look before attaching again.
        if tried_before.exists():
            fields = jira.get_issue(case.jira_key).fields
            if any(a.get("filename") == filename for a in fields.get("attachment") or [] if isinstance(a, dict)):
                return {"attachment": filename, "found_existing": True}
        return {
            "attachment": filename,
            "records": len(jira.attach_file(case.jira_key, filename, evidence, "application/json")),
        }

    attached = perform(case, None, Step.Kind.FILE_TICKET, attach, target="evidence", target_name="Evidence attachment")
    if attached.status != Step.Status.DONE:
        return ticket_pending(case)
    with transaction.atomic():
        Case.objects.filter(pk=case.pk).update(ticket=Case.Ticket.FILED)
        case.ticket = Case.Ticket.FILED
        AuditEvent.record("jira.ticket_filed", actor=ACTOR, case=case, after={"key": case.jira_key})


def ticket_pending(case: Case) -> None:
    """Jira did not take the ticket this time; the revocation stands and a schedule retries."""
    Case.objects.filter(pk=case.pk).update(ticket=Case.Ticket.PENDING)
    case.ticket = Case.Ticket.PENDING


def comment_on_ticket(case: Case, text: str) -> None:
    """Add a later event (retry, restore) to the ticket; a Jira failure is audited, not raised."""
    if not case.jira_key:
        return
    try:
        JiraClient.from_settings().add_comment(case.jira_key, adf.doc(adf.paragraph(text)))
        AuditEvent.record("jira.comment_added", actor=ACTOR, case=case, after={"key": case.jira_key, "text": text})
    except VendorError as e:
        AuditEvent.record(
            "jira.comment_failed", actor=ACTOR, case=case, after={"key": case.jira_key, "text": text, "error": str(e)}
        )


def retry_pending_tickets() -> list[int]:
    """File every ticket not yet filed (Jira was down, or the worker stopped right after revoking).

    Revocation is never re-run just to file a ticket. A case that has just
    finished is left to its own worker for a minute.
    """
    filed = []
    finished = Q(
        state__in=[Case.State.COMPLETED, Case.State.FAILED], finished_at__lt=timezone.now() - timedelta(minutes=1)
    )
    for case in Case.objects.filter(finished, ~Q(ticket=Case.Ticket.FILED)).select_related("termination"):
        file_ticket(case)
        if case.ticket == Case.Ticket.FILED:
            filed.append(case.pk)
    return filed


def ticket_summary(case: Case) -> str:
    outcome = "offboarded" if case.state == Case.State.COMPLETED else "offboarding FAILED"
    who = case.person_name + (f" ({case.termination.employee_id})" if case.termination else "")
    # Jira takes a summary of one line under 255 characters; a name from Workday may hold a line break.
    return " ".join(f"{who} {outcome}".split())[:250]


def ticket_description(case: Case) -> dict:
    steps = list(case.steps.exclude(kind=Step.Kind.FILE_TICKET))
    removed = [s for s in steps if s.kind == Step.Kind.REMOVE_GROUP and s.status == Step.Status.DONE]
    kept = [s for s in steps if s.kind == Step.Kind.REMOVE_GROUP and s.status == Step.Status.SKIPPED]
    follow_up = [s for s in kept if s.detail.get("manual_follow_up")]
    verify_step = next((s for s in steps if s.kind == Step.Kind.VERIFY), None)
    t = case.termination
    decision = (
        f"rule “{case.rule_snapshot.get('name')}” (rule:{case.decided_by_rule_id})"
        if case.decided_by_rule_id
        else str(case.decided_by or "")
    )
    blocks = [
        adf.heading("Result", 2),
        adf.paragraph(
            adf.strong(
                "COMPLETED: access revoked and verified."
                if case.state == Case.State.COMPLETED
                else "FAILED — NOT everything was done."
            )
        ),
    ]
    if case.failure_summary:
        blocks += [adf.heading("Not done", 3), adf.bullet_list(*case.failure_summary.splitlines())]
    blocks += [
        adf.heading("Who left", 3),
        adf.bullet_list(
            f"Name: {case.person_name}",
            f"Okta user: {case.okta_login} ({case.okta_user_id})",
            *(
                [
                    f"Workday Employee_ID: {t.employee_id}",
                    f"Termination date: {t.termination_date}",
                    f"Category and reason: {t.category or '—'}: {t.reason or '—'}",
                    f"Department: {t.department or '—'}, location: {t.location or '—'}",
                    f"Manager: {t.manager or '—'}",
                ]
                if t
                else [f"Emergency offboard requested by {case.requested_by}: {case.request_reason}"]
            ),
            f"Effective moment: {case.effective_at:%Y-%m-%d %H:%M} UTC" if case.effective_at else "Effective moment: —",
        ),
        adf.heading("Decision", 3),
        adf.paragraph(
            f"Approved by {decision} at {case.decided_at:%Y-%m-%d %H:%M:%S} UTC."
            if case.decided_at
            else "No decision recorded."
        ),
        adf.heading("Steps", 3),
        adf.table(
            ["Time (UTC)", "Step", "Target", "Result"],
            [
                [
                    f"{s.finished_at:%Y-%m-%d %H:%M:%S}" if s.finished_at else "—",
                    s.get_kind_display(),
                    s.target_name or s.target or "—",
                    s.status + (f": {s.detail.get('error')}" if s.status == Step.Status.FAILED else ""),
                ]
                for s in steps
            ],
        ),
        adf.heading(f"Groups removed ({len(removed)})", 3),
        adf.bullet_list(*[f"{s.target_name} ({s.target})" for s in removed]) if removed else adf.paragraph("None."),
        adf.heading(f"Not removable here ({len(kept)})", 3),
        adf.bullet_list(*[f"{s.target_name} ({s.target}): {s.detail.get('reason')}" for s in kept])
        if kept
        else adf.paragraph("None."),
    ]
    if follow_up:
        blocks += [
            adf.heading("Manual follow-up", 3),
            adf.bullet_list(*[f"Remove from “{s.target_name}” in its source directory" for s in follow_up]),
        ]
    verified = verify_step and verify_step.status == Step.Status.DONE
    blocks += [
        adf.heading("Verification", 3),
        adf.paragraph(
            "Read back from Okta: status DEPROVISIONED, no OKTA_GROUP membership left."
            if verified
            else f"NOT verified: {verify_step.detail.get('error') if verify_step else 'verification did not run'}"
        ),
        adf.paragraph(
            f"Time to revoke: {case.time_to_revoke}"
            if case.time_to_revoke is not None
            else "Time to revoke: not revoked"
        ),
        adf.paragraph(
            "Case: ",
            adf.link(f"{settings.SITE_URL}{case.get_absolute_url()}", f"{settings.SITE_URL}{case.get_absolute_url()}"),
        ),
        adf.paragraph("The full evidence is attached as JSON."),
    ]
    return adf.doc(*blocks)


def evidence_of(case: Case) -> dict[str, Any]:
    """Everything an auditor needs about one case, as plain data."""
    t = case.termination
    steps = list(case.steps.all())
    snapshot = next((s.detail for s in steps if s.kind == Step.Kind.SNAPSHOT), {})
    verification = next((s.detail for s in steps if s.kind == Step.Kind.VERIFY), {})
    return {
        "case": {
            "id": case.pk,
            "kind": case.kind,
            "state": case.state,
            "url": f"{settings.SITE_URL}{case.get_absolute_url()}",
            "jira_key": case.jira_key,
            "okta_user_id": case.okta_user_id,
            "okta_login": case.okta_login,
            "identity": case.identity,
            "identity_note": case.identity_note,
            "protected": case.protected_reason,
            "effective_at": case.effective_at,
            "started_at": case.started_at,
            "revoked_at": case.revoked_at,
            "finished_at": case.finished_at,
            "time_to_revoke_seconds": case.time_to_revoke.total_seconds() if case.time_to_revoke else None,
            "not_done": case.failure_summary,
            "restored_at": case.restored_at,
        },
        "workday": {"employee_id": t.employee_id, "as_received": t.raw} if t else None,
        "decision": {
            "by": str(case.decided_by or ""),
            "rule": case.rule_snapshot or None,
            "at": case.decided_at,
            "reason": case.decision_reason,
            "approvers": [
                {"user": a.user.get_username(), "at": a.at, "reason": a.reason}
                for a in case.approvals.select_related("user")
            ],
            "requested_by": str(case.requested_by or ""),
            "request_reason": case.request_reason,
        },
        "plan_at_review": case.plan,
        "groups_before": snapshot.get("groups", []),
        "groups_added_since_review": snapshot.get("added_since_review", []),
        "steps": [
            {
                "kind": s.kind,
                "target": s.target,
                "target_name": s.target_name,
                "status": s.status,
                "attempts": s.attempts,
                "http_status": s.http_status,
                "vendor_code": s.vendor_code,
                "vendor_error_id": s.vendor_error_id,
                "vendor_request_id": s.vendor_request_id,
                "started_at": s.started_at,
                "finished_at": s.finished_at,
                "detail": s.detail,
            }
            for s in steps
        ],
        "verification": verification,
        "audit_events": [
            {"seq": e.seq, "at": e.at, "actor": e.actor_name, "action": e.action, "after": e.after, "hash": e.hash}
            for e in case.events.all()
        ],
    }


# --- Undo: restore ----------------------------------------------------------------


def restore_case(case_id: int) -> str:
    """Give back what the revocation removed (two people approved): re-add groups, reactivate.

    Claimed like a revocation, with a lease, so a second delivery does nothing.
    """
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    now = timezone.now()
    claimed = (
        Case.objects.filter(pk=case_id, restore_approved_by__isnull=False, restored_at=None)
        .exclude(state=Case.State.RUNNING)
        .filter(Q(lease_until=None) | Q(lease_until__lt=now))
        .update(lease_owner=owner, lease_until=now + lease_length())
    )
    if not claimed:
        return "nothing to do"
    case = Case.objects.select_related("termination").get(pk=case_id)
    okta = OktaClient.from_settings()
    removed = case.steps.filter(kind=Step.Kind.REMOVE_GROUP, status=Step.Status.DONE)
    results = perform_many(
        case,
        None,
        Step.Kind.RESTORE_GROUP,
        [
            (
                step.target,
                step.target_name,
                lambda gid=step.target: okta.add_to_group(gid, case.okta_user_id) or {"added": True},
            )
            for step in removed
        ],
    )
    results.append(
        perform(
            case,
            None,
            Step.Kind.REACTIVATE,
            lambda: {"user": user_data(okta.reactivate(case.okta_user_id))},
            target=case.okta_user_id,
        )
    )
    failed = [s for s in results if s.status == Step.Status.FAILED]
    with transaction.atomic():
        case.refresh_from_db()
        case.lease_owner, case.lease_until = "", None
        if not failed:
            case.restored_at = timezone.now()
            case.state, case.attention_reason = Case.State.COMPLETED, ""
        else:
            case.state = Case.State.NEEDS_ATTENTION
            case.attention_reason = "Restore incomplete: " + "; ".join(f"{s} — {s.detail.get('error')}" for s in failed)
        case.save()
        AuditEvent.record(
            "case.restored" if not failed else "case.restore_failed",
            actor=ACTOR,
            case=case,
            after={
                "groups_restored": [
                    s.target_name for s in results if s.kind == Step.Kind.RESTORE_GROUP and s.status == Step.Status.DONE
                ],
                "not_restored": case.attention_reason,
            },
        )
    approvers = f"requested by {case.restore_requested_by}, approved by {case.restore_approved_by}"
    comment_on_ticket(
        case,
        f"Access restored ({approvers}): {len(results) - 1} group memberships re-added; "
        f"the Okta user is {results[-1].detail['user']['status']} again."
        if not failed
        else f"Restore incomplete ({approvers}): {case.attention_reason}",
    )
    if failed:
        send_alert(f"Case {case.pk}: restore incomplete", case.attention_reason)
    return "restored" if not failed else "restore incomplete"


# --- Reconciliation ---------------------------------------------------------------

# PROVISIONED counts: an activation link is outstanding, and following it signs the person in.
CAN_SIGN_IN = {"ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY", "PROVISIONED"}


def reconcile() -> ReconciliationRun:
    """Check every past-due termination and every completed case against Okta.

    Anyone who can still sign in is a finding; their case goes to needs_attention.
    """
    okta = OktaClient.from_settings()
    run = ReconciliationRun.objects.create()
    past_due = Case.objects.filter(effective_at__lte=run.started_at, restored_at=None).exclude(
        state__in=[Case.State.CANCELLED, Case.State.RUNNING, Case.State.APPROVED, Case.State.SCHEDULED]
    )
    for case in past_due.select_related("termination").iterator():
        run.checked += 1
        try:
            if case.okta_user_id:
                users = [okta.get_user(case.okta_user_id)]
            elif case.termination:
                users = okta.find_users_by_employee_number(case.termination.employee_id)
            else:
                users = []
        except VendorError as e:
            run.errors.append({"case": case.pk, "error": str(e)})
            continue
        for user in (u for u in users if u.status in CAN_SIGN_IN):
            run.findings.append(
                {
                    "case": case.pk,
                    "employee_id": case.termination.employee_id if case.termination else "",
                    "name": case.person_name,
                    "okta_user_id": user.id,
                    "login": user.login,
                    "status": user.status,
                    "case_state": case.state,
                }
            )
            flag_for_attention(
                case, f"Reconciliation: the Okta user {user.login} is {user.status} and can still sign in."
            )
    run.finished_at = timezone.now()
    run.save()
    AuditEvent.record(
        "reconcile.finished",
        actor="system:reconcile",
        obj=run,
        after={"checked": run.checked, "findings": len(run.findings), "errors": len(run.errors)},
    )
    if run.findings:
        people = "\n".join(f"- {f['name']} ({f['login']}, {f['status']}), case {f['case']}" for f in run.findings)
        send_alert(f"Reconciliation: {len(run.findings)} people can still sign in", people)
    return run


def flag_for_attention(case: Case, reason: str) -> None:
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        before = {"state": case.state}
        if case.state != Case.State.REJECTED:  # a human decided to keep this access; the finding is reported only
            case.state = Case.State.NEEDS_ATTENTION
        case.attention_reason = reason
        case.save()
        AuditEvent.record(
            "reconcile.finding",
            actor="system:reconcile",
            case=case,
            before=before,
            after={"state": case.state, "reason": reason},
        )
