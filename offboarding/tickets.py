"""The Jira ticket: one per case, ever, holding the evidence; filed after the revocation, retried while Jira is down.

Revocation is never re-run just to file a ticket: a case whose ticket is pending keeps its outcome,
and `retry_pending_tickets` (a schedule) files it later.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from offboarding.clients import adf
from offboarding.clients.errors import VendorError
from offboarding.clients.jira import JiraClient
from offboarding.evidence import evidence_of
from offboarding.integrity import case_anchor
from offboarding.models import AuditEvent, Case, Step
from offboarding.request_id import current_request_id
from offboarding.request_id import request_id as under_request_id
from offboarding.steps import ACTOR, enqueue_case_job, perform


def file_ticket(case: Case, jira: JiraClient | None = None) -> None:
    """File the case's one ticket with the evidence attached; when Jira is down, leave it pending.

    The ticket is found by the case's label before one is created, so a crash
    between creating it and saving its key never files a second one.
    """
    jira = jira or JiraClient.from_settings()

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
        AuditEvent.record(
            "jira.ticket_filed", actor=ACTOR, case=case, after={"key": case.jira_key}, decision=("jira_key",)
        )


def enqueue_ticket(case_id: int, request_id: str = "") -> None:
    """Hand the ticket of a case closed without a revocation (no Okta account) to a worker."""
    enqueue_case_job("offboarding.tickets.file_ticket_of_case", "ticket", case_id, request_id)


def file_ticket_of_case(case_id: int, request_id: str = "", jira: JiraClient | None = None) -> str:
    """The django-q2 task of `enqueue_ticket`: file the case's ticket unless it is filed. Safe to deliver twice."""
    with under_request_id(request_id or current_request_id() or None):
        case = Case.objects.select_related("termination").get(pk=case_id)
        if case.ticket != Case.Ticket.FILED:
            file_ticket(case, jira)
        return case.ticket


def ticket_pending(case: Case) -> None:
    """Jira did not take the ticket this time; the revocation stands and a schedule retries."""
    Case.objects.filter(pk=case.pk).update(ticket=Case.Ticket.PENDING)
    case.ticket = Case.Ticket.PENDING


def comment_on_ticket(case: Case, text: str, jira: JiraClient | None = None) -> None:
    """Add a later event (retry, restore) to the ticket; a Jira failure is audited, not raised."""
    if not case.jira_key:
        return
    try:
        anchor = case_anchor(case)
        body = adf.doc(adf.paragraph(text), *([adf.paragraph(anchor)] if anchor else []))
        (jira or JiraClient.from_settings()).add_comment(case.jira_key, body)
        AuditEvent.record(
            "jira.comment_added", actor=ACTOR, case=case, after={"key": case.jira_key, "text": text, "anchor": anchor}
        )
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
        state__in=[Case.State.COMPLETED, Case.State.FAILED, Case.State.NEEDS_ATTENTION, Case.State.NO_ACCOUNT],
        finished_at__lt=timezone.now() - timedelta(minutes=1),
    )
    for case in Case.objects.filter(finished, ~Q(ticket=Case.Ticket.FILED)).select_related("termination"):
        file_ticket(case)
        if case.ticket == Case.Ticket.FILED:
            filed.append(case.pk)
    return filed


def revoked_in_full(case: Case) -> bool:
    """Everything done and read back, whatever people must still look at (a rescind during the run)."""
    return case.revoked_at is not None and not case.failure_summary and case.state != Case.State.FAILED


def ticket_summary(case: Case) -> str:
    if case.state == Case.State.NO_ACCOUNT:
        outcome = "closed: no Okta account, nothing to revoke"
    else:
        outcome = "offboarded" if revoked_in_full(case) else "offboarding FAILED"
    if case.state == Case.State.NEEDS_ATTENTION:
        outcome += ", needs attention"
    who = case.person_name + (f" ({case.termination.employee_id})" if case.termination else "")
    # Jira takes a summary of one line under 255 characters; a name from Workday may hold a line break.
    return " ".join(f"{who} {outcome}".split())[:250]


def no_account_description(case: Case) -> dict:
    """The ticket of a case closed as having no Okta account: who decided, why, and whom Okta had instead."""
    t = case.termination
    ruled_out = case.plan.get("ruled_out", [])
    return adf.doc(
        adf.heading("Result", 2),
        adf.paragraph(adf.strong("CLOSED: no Okta account — nothing to revoke. Nothing was changed in Okta.")),
        adf.heading("Who left", 3),
        adf.bullet_list(
            f"Name: {case.person_name}",
            f"Workday Employee_ID: {t.employee_id}",
            f"Work email: {t.email or '—'}",
            f"Termination date: {t.termination_date}",
        ),
        adf.heading("Decision", 3),
        adf.paragraph(f"{case.identity_note} Closed at {case.decided_at:%Y-%m-%d %H:%M:%S} UTC."),
        adf.heading(f"Okta users looked up and ruled out ({len(ruled_out)})", 3),
        adf.bullet_list(
            *[
                f"{u['login']} ({u['name']}, {u['status']}, employee number {u['employee_number'] or '—'})"
                for u in ruled_out
            ]
        )
        if ruled_out
        else adf.paragraph("Okta had no user by this employee number, work email or name."),
        adf.paragraph("Case: ", adf.link(case.site_url, case.site_url)),
        adf.paragraph("The full evidence is attached as JSON."),
        *anchor_paragraph(case),
    )


def ticket_description(case: Case) -> dict:
    if case.state == Case.State.NO_ACCOUNT:
        return no_account_description(case)
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
                if revoked_in_full(case)
                else "FAILED — NOT everything was done."
            )
        ),
    ]
    if case.state == Case.State.NEEDS_ATTENTION and case.attention_reason:
        blocks += [adf.heading("Needs attention", 3), adf.bullet_list(*case.attention_reason.splitlines())]
    if case.attention_after_run:
        blocks += [
            adf.heading("Changed in Workday during the revocation", 3),
            adf.bullet_list(*case.attention_after_run.splitlines()),
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
            adf.link(case.site_url, case.site_url),
        ),
        adf.paragraph("The full evidence is attached as JSON."),
        *anchor_paragraph(case),
    ]
    return adf.doc(*blocks)


def anchor_paragraph(case: Case) -> list[dict]:
    """The seal of the case's last audit event, kept in Jira where the database's administrator cannot change it."""
    anchor = case_anchor(case)
    return [adf.paragraph(anchor)] if anchor else []
