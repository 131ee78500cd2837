"""Reconciliation: every past-due termination and every completed case checked against Okta.

Anyone who can still sign in is a finding; their case goes to needs_attention and the alert list is told.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from offboarding.alerts import send_alert
from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OktaClient
from offboarding.models import Actor, AuditEvent, Case, FollowUp, ReconciliationRun

ACTOR = Actor.system("reconcile")

# PROVISIONED counts: an activation link is outstanding, and following it signs the person in.
CAN_SIGN_IN = {"ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY", "PROVISIONED"}


def reconcile(directory_sourced: bool = False) -> ReconciliationRun:
    """Check every past-due termination and every completed case against Okta.

    Anyone who can still sign in is a finding; their case goes to needs_attention. With `directory_sourced`,
    only the leavers mastered by a directory whose directory follow-up is still open (`watched_in_directory`):
    the directory's next import can reactivate them, so they are checked far more often (the schedule's
    DIRECTORY_WATCH_MINUTES).
    """
    okta = OktaClient.from_settings()
    run = ReconciliationRun.objects.create()
    past_due = Case.objects.filter(effective_at__lte=run.started_at, restored_at=None).exclude(
        state__in=[Case.State.CANCELLED, Case.State.RUNNING, Case.State.APPROVED, Case.State.SCHEDULED]
    )
    if directory_sourced:
        past_due = watched_in_directory(past_due)
    for case in past_due.select_related("termination").iterator():
        run.checked += 1
        if case.termination and case.termination.rehired:
            # The same employee id hired again: an active Okta user is the new job's, not a leak.
            note_rehire(case)
            continue
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
        # Closed as "no Okta account": the users people looked at then and ruled out are not this person.
        ruled_out = {u["id"] for u in case.plan.get("ruled_out", [])} if case.state == Case.State.NO_ACCOUNT else set()
        for user in (u for u in users if u.status in CAN_SIGN_IN and u.id not in ruled_out):
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
            flag_for_attention(case, finding_reason(case, user.login, user.status))
    run.finished_at = timezone.now()
    run.save()
    AuditEvent.record(
        "reconcile.finished",
        actor=ACTOR,
        obj=run,
        after={
            "checked": run.checked,
            "findings": len(run.findings),
            "errors": len(run.errors),
            **({"only": "directory-sourced"} if directory_sourced else {}),
        },
    )
    if run.findings:
        people = "\n".join(f"- {f['name']} ({f['login']}, {f['status']}), case {f['case']}" for f in run.findings)
        who = "directory-sourced leavers were reactivated" if directory_sourced else "people can still sign in"
        send_alert(f"Reconciliation: {len(run.findings)} {who}", people)
    return run


def watched_in_directory(cases: QuerySet[Case]) -> QuerySet[Case]:
    """The directory-sourced leavers still watched: their directory follow-up is open, and nobody has been
    told yet (a case already needing attention is not alerted again every hour)."""
    open_directory = FollowUp.objects.filter(
        case=OuterRef("pk"), kind=FollowUp.Kind.DIRECTORY, status=FollowUp.Status.OPEN
    )
    return cases.filter(Exists(open_directory)).exclude(state=Case.State.NEEDS_ATTENTION)


def finding_reason(case: Case, login: str, status: str) -> str:
    if case.directory_sourced:
        directory = case.provider.get("name") or case.provider.get("type")
        return (
            f"Reconciliation: the Okta user {login} is {status} again and can sign in: mastered by {directory}, "
            "it was reactivated by a directory import or a sign-in. Disable the directory account, then "
            "deactivate the Okta user again."
        )
    return f"Reconciliation: the Okta user {login} is {status} and can still sign in."


REHIRED = "Rehired in Workday under the same employee id: reconciliation no longer reports this person."


def note_rehire(case: Case) -> None:
    """Say once, audited, that reconciliation stops reporting a rehired person; a case it had sent to
    needs attention for that alone, whose revocation was verified, goes back to completed."""
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("termination").get(pk=case.pk)
        if AuditEvent.objects.filter(case=case, action="reconcile.rehire_noted").exists():
            return
        termination = case.termination
        after = {
            "reason": REHIRED,
            "hire_date": termination.hire_date.isoformat() if termination.hire_date else None,
            "worker_status": termination.worker_status,
        }
        reasons = case.attention_reason.splitlines()
        only_ours = reasons and all(line.startswith("Reconciliation:") for line in reasons)
        if case.state == Case.State.NEEDS_ATTENTION and only_ours and case.revoked_at and not case.failure_summary:
            case.attention_reason = ""
            case.move_to(Case.State.COMPLETED, ACTOR, "reconcile.rehire_noted", after=after)
        else:
            AuditEvent.record("reconcile.rehire_noted", actor=ACTOR, case=case, after=after)


def flag_for_attention(case: Case, reason: str) -> None:
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        case.attention_reason = reason
        # A human decided to keep this access (rejected), or a retry is on its way to finish the lockout
        # (failed on a passing outage): the finding is reported only.
        reported_only = case.state == Case.State.REJECTED or (case.state == Case.State.FAILED and case.retry_at)
        state = case.state if reported_only else Case.State.NEEDS_ATTENTION
        case.move_to(state, ACTOR, "reconcile.finding", after={"reason": reason})
