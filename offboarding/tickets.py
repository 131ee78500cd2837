"""The Jira ticket: one per case, ever, holding the evidence; filed after the revocation, retried while Jira is down.

Revocation is never re-run just to file a ticket: a case whose ticket is pending keeps its outcome,
and `retry_pending_tickets` (a schedule) files it later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from offboarding import follow_ups
from offboarding.alerts import send_alert
from offboarding.clients import adf
from offboarding.clients.errors import VendorError
from offboarding.clients.jira import JiraClient
from offboarding.evidence import evidence_of
from offboarding.integrity import case_anchor, case_ticket_label
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
        found = [i for i in jira.find_issues_by_label(case.label, case.legacy_label) if is_ticket_of(case, i.fields)]
        issue = (
            found[0]
            if found
            else jira.create_issue(
                ticket_summary(case), ticket_description(case), [case.label, "offboarding", case_ticket_label()]
            )
        )
        Case.objects.filter(pk=case.pk).update(jira_key=issue.key)
        case.jira_key = issue.key
        return {"key": issue.key, "url": issue.url, "found_existing": bool(found)}

    issue = perform(case, None, Step.Kind.FILE_TICKET, find_or_create, target="issue", target_name="Jira ticket")
    if issue.status != Step.Status.DONE:
        return ticket_pending(case, issue)
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
        return ticket_pending(case, attached)
    with transaction.atomic():
        Case.objects.filter(pk=case.pk).update(ticket=Case.Ticket.FILED)
        case.ticket = Case.Ticket.FILED
        AuditEvent.record(
            "jira.ticket_filed", actor=ACTOR, case=case, after={"key": case.jira_key}, decision=("jira_key",)
        )


def is_ticket_of(case: Case, fields: dict) -> bool:
    """Whether a ticket found by label is this case's own, not one another installation filed for its case of
    the same number: it carries this installation's label, or it carries the label every installation used
    before labels named theirs and its description links this case's page (this site's address)."""
    labels = fields.get("labels") or []
    if case.label in labels:
        return True
    return case.legacy_label in labels and case.site_url in adf.links(fields.get("description"))


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


def ticket_pending(case: Case, step: Step) -> None:
    """Jira did not take the ticket this time; the revocation stands and a schedule retries.

    A refusal of the request itself (400: a field the project requires, a project or issue type that is
    gone) would be met at every retry: the people on call are told, once a case and once an hour for the same
    refusal.
    """
    Case.objects.filter(pk=case.pk).update(ticket=Case.Ticket.PENDING)
    case.ticket = Case.Ticket.PENDING
    if step.http_status != 400 or case.events.filter(action="jira.ticket_refused").exists():
        return  # a passing outage, a rejected credential (alerted by offboarding.health), or told already
    error = step.detail.get("error", "")
    refused = AuditEvent.objects.filter(action="jira.ticket_refused", after__error=error)
    # One alert for a refusal every ticket meets (a new required field): not one per case.
    told = refused.filter(at__gte=timezone.now() - timedelta(hours=1)).exists()
    AuditEvent.record("jira.ticket_refused", actor=ACTOR, case=case, after={"step": step.target, "error": error})
    if told:
        return
    send_alert(
        f"Jira refused the ticket of case {case.pk} ({case.person_name})",
        f"Jira answered: {error}\n\nThe revocation stands; the ticket is tried again every 5 minutes and will be "
        "refused until Jira's project or the product's settings change: `manage.py check_vendors` names what "
        f"is missing.\n\n{case.site_url}",
    )


def comment_on_ticket(case: Case, text: str, jira: JiraClient | None = None) -> None:
    """Add a later event (retry, restore) to the ticket; a Jira failure is audited, not raised."""
    if not case.jira_key:
        return
    anchor = case_anchor(case)
    body = adf.text_within_limit(
        text,
        "… (cut to Jira's limit: the full text is in the case's audit log)",
        *([adf.paragraph(anchor)] if anchor else []),
    )
    try:
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
        state__in=[
            Case.State.COMPLETED,
            Case.State.REVOKED_IN_OKTA,
            Case.State.FAILED,
            Case.State.NEEDS_ATTENTION,
            Case.State.NO_ACCOUNT,
        ],
        finished_at__lt=timezone.now() - timedelta(minutes=1),
    )
    for case in Case.objects.filter(finished, ~Q(ticket=Case.Ticket.FILED)).select_related("termination"):
        file_ticket(case)
        if case.ticket == Case.Ticket.FILED:
            filed.append(case.pk)
            follow_ups.file_sub_tasks(case)  # its follow-ups waited for their parent
    return filed


def revoked_in_full(case: Case) -> bool:
    """Everything done and read back, whatever people must still look at (a rescind during the run)."""
    return case.revoked_at is not None and not case.failure_summary and case.state != Case.State.FAILED


def result_line(case: Case) -> str:
    if not revoked_in_full(case):
        return "FAILED — NOT everything was done."
    if case.state == Case.State.REVOKED_IN_OKTA:
        return f"REVOKED IN OKTA: access revoked and verified. {case.status_line.split('; ')[-1].capitalize()}."
    return "COMPLETED: access revoked and verified."


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


# How many items of each list (groups, steps, reasons) a description shows, tried in turn until it fits
# within Jira's limit; None: all of them. The attached evidence always has every one.
LIST_LIMITS = (None, 500, 200, 100, 50, 20, 10, 5, 0)


def listed(items: list, limit: int | None, what: str = "") -> tuple[list, str]:
    """The first `limit` items, and what is left out, in words ("" when nothing is)."""
    if limit is None or len(items) <= limit:
        return items, ""
    return items[:limit], f"and {len(items) - limit:,} more{what} — full list in the attached evidence"


def bullets(items: list[str], limit: int | None, empty: str = "None.") -> list[dict]:
    """A bullet list of at most `limit` items (an item saying how many more), or a paragraph when empty."""
    if not items:
        return [adf.paragraph(empty)]
    shown, more = listed(items, limit)
    return [adf.bullet_list(*shown, *([more] if more else []))]


def within_limit(case: Case, build: Callable[[int | None], dict]) -> dict:
    """The fullest description `build(limit)` makes that Jira takes; the evidence attached holds the rest."""
    for limit in LIST_LIMITS:
        document = build(limit)
        if adf.fits(document):
            return document
    # Even its fixed parts are too long (a text from a vendor or Workday of thousands of characters).
    return adf.doc(
        adf.paragraph(adf.strong(ticket_summary(case))),
        adf.paragraph(
            "Too long for a Jira description: everything is in the attached evidence and on ",
            adf.link(case.site_url, case.site_url),
        ),
    )


def no_account_description(case: Case) -> dict:
    return within_limit(case, lambda limit: no_account_document(case, limit))


def no_account_document(case: Case, limit: int | None) -> dict:
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
        *bullets(
            [
                f"{u['login']} ({u['name']}, {u['status']}, employee number {u['employee_number'] or '—'})"
                for u in ruled_out
            ],
            limit,
            "Okta had no user by this employee number, work email or name.",
        ),
        adf.paragraph("Case: ", adf.link(case.site_url, case.site_url)),
        adf.paragraph("The full evidence is attached as JSON."),
        *anchor_paragraph(case),
    )


def ticket_description(case: Case) -> dict:
    """The ticket's description: everything, or, past Jira's limit, the counts and the first items of each
    list with how many more there are (the evidence attached to the ticket always holds every one)."""
    if case.state == Case.State.NO_ACCOUNT:
        return no_account_description(case)
    steps = list(case.steps.exclude(kind=Step.Kind.FILE_TICKET))
    return within_limit(case, lambda limit: ticket_document(case, steps, limit))


def steps_in_table(steps: list[Step], limit: int | None) -> tuple[list[Step], str]:
    """The steps the table shows, in their order, and what it leaves out. Cut short, it keeps every step that
    is not a group removal (the few that say whether the person is locked out), then the failed removals,
    then the first others; the groups have their own list below it."""
    if limit is None or len(steps) <= limit:
        return steps, ""
    priority = sorted(
        range(len(steps)),
        key=lambda i: (steps[i].kind == Step.Kind.REMOVE_GROUP, steps[i].status != Step.Status.FAILED),
    )
    essential = sum(1 for s in steps if s.kind != Step.Kind.REMOVE_GROUP)
    chosen = set(priority[: max(limit, essential)])
    shown = [s for i, s in enumerate(steps) if i in chosen]
    return shown, f"and {len(steps) - len(shown):,} more steps — full list in the attached evidence"


def ticket_document(case: Case, steps: list[Step], limit: int | None) -> dict:
    removed = [s for s in steps if s.kind == Step.Kind.REMOVE_GROUP and s.status == Step.Status.DONE]
    kept = [s for s in steps if s.kind == Step.Kind.REMOVE_GROUP and s.status == Step.Status.SKIPPED]
    follow_up = [s for s in kept if s.detail.get("manual_follow_up")]
    verify_step = next((s for s in steps if s.kind == Step.Kind.VERIFY), None)
    shown_steps, more_steps = steps_in_table(steps, limit)
    t = case.termination
    decision = (
        f"rule “{case.rule_snapshot.get('name')}” (rule:{case.decided_by_rule_id})"
        if case.decided_by_rule_id
        else str(case.decided_by or "")
    )
    blocks = [
        adf.heading("Result", 2),
        adf.paragraph(adf.strong(result_line(case))),
    ]
    if case.state == Case.State.NEEDS_ATTENTION and case.attention_reason:
        blocks += [adf.heading("Needs attention", 3), *bullets(case.attention_reason.splitlines(), limit)]
    if case.attention_after_run:
        blocks += [
            adf.heading("Changed in Workday during the revocation", 3),
            *bullets(case.attention_after_run.splitlines(), limit),
        ]
    if case.failure_summary:
        not_done = case.failure_summary.splitlines()
        blocks += [adf.heading(f"Not done ({len(not_done)})", 3), *bullets(not_done, limit)]
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
        adf.heading(f"Steps ({len(steps)})", 3),
        adf.table(
            ["Time (UTC)", "Step", "Target", "Result"],
            [
                [
                    f"{s.finished_at:%Y-%m-%d %H:%M:%S}" if s.finished_at else "—",
                    s.get_kind_display(),
                    s.target_name or s.target or "—",
                    s.status + (f": {s.detail.get('error')}" if s.status == Step.Status.FAILED else ""),
                ]
                for s in shown_steps
            ],
        ),
        *([adf.paragraph(more_steps)] if more_steps else []),
        adf.heading(f"Groups removed ({len(removed)})", 3),
        *bullets([f"{s.target_name} ({s.target})" for s in removed], limit),
        adf.heading(f"Not removable here ({len(kept)})", 3),
        *bullets([f"{s.target_name} ({s.target}): {s.detail.get('reason')}" for s in kept], limit),
    ]
    if follow_up:
        blocks += [
            adf.heading(f"Manual follow-up ({len(follow_up)})", 3),
            *bullets([f"Remove from “{s.target_name}” in its source directory" for s in follow_up], limit),
        ]
    if opened := list(case.follow_ups.all()):
        blocks += [
            adf.heading(f"What Okta will not undo: follow-ups ({len(opened)})", 3),
            adf.paragraph(
                "Each is a sub-task of this ticket; the case is completed once every one is resolved here "
                "or closed on the case page."
            ),
            adf.bullet_list(*[f.what for f in opened]),
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
