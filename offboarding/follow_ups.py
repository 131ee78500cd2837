"""Follow-ups: what Okta's deactivation does not undo, tracked to the end as Jira sub-tasks of the case's ticket.

An app whose own account Okta keeps (SSO-only, provisioning without "deactivate users", an inactive app),
the source directory of an Active Directory or LDAP user, a group the person owns: once the revocation's
Okta work is done and verified, each becomes a FollowUp (`open_for`, in the revocation's last transaction),
and the case is "Access revoked in Okta; N follow-ups open". Once its ticket is filed each is filed as a
sub-task (`file_sub_tasks`), assigned per FOLLOW_UP_OWNERS. A schedule (`sync`) files what Jira did not take,
reads each open one's status back and closes those Jira calls done; an approver may close one with a note
(`decisions.close_follow_up`). When none is left open the case is completed.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from offboarding import identity
from offboarding.alerts import one_line, send_alert
from offboarding.clients import adf
from offboarding.clients.errors import VendorError
from offboarding.clients.jira import JiraClient
from offboarding.models import Actor, AuditEvent, Case, FollowUp, Step
from offboarding.steps import perform

ACTOR = Actor.system("follow_ups")
# Jira's status category of a finished issue, whatever the workflow calls the status ("Done", "Won't Do"...).
DONE_CATEGORY = "done"
SUMMARY_LENGTH = 250


def open_for(case: Case, items: list[dict] | None = None) -> list[FollowUp]:
    """One open follow-up per item (by default, each thing of the case's plan that Okta will not undo), once
    each; audited. In the caller's transaction (the revocation's finish, a restore's), so the case never shows
    its outcome without them.
    """
    existing = {(f.kind, f.target_id) for f in case.follow_ups.all()}
    created = []
    for item in identity.follow_ups(case.plan) if items is None else items:
        if (item["kind"], item["target_id"]) in existing:
            continue
        follow_up = FollowUp.objects.create(
            case=case,
            kind=item["kind"],
            target_id=item["target_id"][:100],
            target_name=item["target_name"][:300],
            what=item["what"],
            owner=owner_of(item),
        )
        existing.add((item["kind"], item["target_id"]))
        created.append(follow_up)
    AuditEvent.record_many(
        [AuditEvent.entry("follow_up.opened", actor=ACTOR, case=case, obj=f, after=f.as_dict()) for f in created]
    )
    return created


def close_after_restore(case: Case) -> list[FollowUp]:
    """Access was given back: what the revocation left for people to undo must not be done now. Each open
    follow-up is closed, audited, in the caller's transaction; the caller then tells their sub-tasks."""
    closed = list(case.follow_ups.select_for_update().filter(status=FollowUp.Status.OPEN))
    for follow_up in closed:
        follow_up.close(ACTOR, RESTORED, "follow_up.closed_by_restore")
    return closed


RESTORED = "Access was restored: this is no longer to be done."


def owner_of(item: dict) -> str:
    """The Jira accountId FOLLOW_UP_OWNERS names for the item (by id first, then by name); "" for nobody."""
    owners = settings.FOLLOW_UP_OWNERS
    return owners.get(item["target_id"]) or owners.get(item["target_name"]) or ""


def file_sub_tasks(case: Case, jira: JiraClient | None = None) -> None:
    """File each open follow-up not yet in Jira as a sub-task of the case's ticket (which must be filed).

    Each is a step (audited, found by its label before it is created again, so none is filed twice); one Jira
    refuses stays unfiled with the reason on it, is alerted the first time, and the schedule tries again.
    """
    if case.ticket != Case.Ticket.FILED or not case.jira_key:
        return  # a sub-task needs its parent: filed once the ticket is (tickets.retry_pending_tickets)
    unfiled = list(case.follow_ups.filter(status=FollowUp.Status.OPEN, jira_key=""))
    if not unfiled:
        return
    jira = jira or JiraClient.from_settings()
    for follow_up in unfiled:
        step = perform(
            case,
            None,
            Step.Kind.FILE_TICKET,
            lambda f=follow_up: find_or_create(case, f, jira),
            target=filing_target(follow_up),
            target_name=f"Follow-up sub-task: {follow_up.target_name}"[:300],
        )
        if step.status == Step.Status.DONE:
            continue
        error = step.detail.get("error", "Jira did not take the sub-task")
        FollowUp.objects.filter(pk=follow_up.pk).update(filing_error=error)
        if not follow_up.filing_error:  # alerted once, when it first fails; the schedule's retries are not
            send_alert(
                f"Case {case.pk}: a follow-up could not be filed in Jira",
                f"{follow_up.what}\n\nJira answered: {error}\nIt is tried again every "
                f"{settings.FOLLOW_UP_SYNC_MINUTES} minutes.\n\n{case.site_url}",
            )


def filing_step(follow_up: FollowUp):
    """The step that files the follow-up's sub-task (one per follow-up, of the ticket's kind)."""
    return Step.objects.filter(case=follow_up.case_id, kind=Step.Kind.FILE_TICKET, target=filing_target(follow_up))


def filing_target(follow_up: FollowUp) -> str:
    return f"follow-up-{follow_up.pk}"


def find_or_create(case: Case, follow_up: FollowUp, jira: JiraClient) -> dict:
    found = jira.find_issues_by_label(follow_up.label)
    issue = (
        found[0]
        if found
        else jira.create_sub_task(
            case.jira_key,
            one_line(f"Follow-up for {case.person_name}: {follow_up.what}", SUMMARY_LENGTH),
            sub_task_description(case, follow_up),
            [follow_up.label, "offboarding", "offboarding-follow-up"],
            follow_up.owner,
        )
    )
    FollowUp.objects.filter(pk=follow_up.pk).update(jira_key=issue.key, filing_error="")
    AuditEvent.record(
        "follow_up.filed",
        actor=ACTOR,
        case=case,
        obj=follow_up,
        after={"key": issue.key, "parent": case.jira_key, "assignee": follow_up.owner, "found_existing": bool(found)},
    )
    return {"key": issue.key, "url": issue.url, "parent": case.jira_key, "found_existing": bool(found)}


def sub_task_description(case: Case, follow_up: FollowUp) -> dict:
    return adf.doc(
        adf.paragraph(adf.strong(follow_up.what)),
        adf.bullet_list(
            f"Leaver: {case.person_name} ({case.okta_login})",
            f"{follow_up.get_kind_display()}: {follow_up.target_name} ({follow_up.target_id or '—'})",
            "Okta access is revoked and verified; Okta's deactivation does not undo this.",
        ),
        adf.paragraph(
            "Resolve this sub-task when it is done; Offboarding reads its status back and completes the case."
        ),
        adf.paragraph("Case: ", adf.link(case.site_url, case.site_url)),
    )


# --- The schedule -------------------------------------------------------------------------


def sync(jira: JiraClient | None = None) -> dict[str, int]:
    """The schedule: file the sub-tasks Jira did not take, close the follow-ups Jira says are done, and
    complete every case none of whose follow-ups is open any more."""
    jira = jira or JiraClient.from_settings()
    unfiled = Case.objects.filter(
        follow_ups__status=FollowUp.Status.OPEN, follow_ups__jira_key="", ticket=Case.Ticket.FILED
    ).distinct()
    for case in unfiled.select_related("termination"):
        file_sub_tasks(case, jira)
    filed = list(FollowUp.objects.filter(status=FollowUp.Status.OPEN).exclude(jira_key="").select_related("case"))
    closed = 0
    try:
        statuses = jira.statuses([f.jira_key for f in filed]) if filed else {}
    except VendorError as e:
        AuditEvent.record("jira.follow_up_statuses_failed", actor=ACTOR, after={"error": str(e), "asked": len(filed)})
        filed = []  # nothing is known: everything stays as it is until the next run
    for follow_up in filed:
        status = statuses.get(follow_up.jira_key)
        if status is None:
            refile(follow_up)
        elif (status.get("statusCategory") or {}).get("key") == DONE_CATEGORY:
            closed += close_from_jira(follow_up.pk, status.get("name", ""))
    completed = sum(complete_if_done(case) for case in Case.objects.filter(state=Case.State.REVOKED_IN_OKTA))
    return {"asked": len(filed), "closed": closed, "completed": completed}


def refile(follow_up: FollowUp) -> None:
    """Its sub-task is gone from Jira (deleted) without being done: filed again at the next run; audited."""
    with transaction.atomic():
        FollowUp.objects.filter(pk=follow_up.pk, status=FollowUp.Status.OPEN).update(jira_key="")
        filing_step(follow_up).update(status=Step.Status.PENDING)
    AuditEvent.record(
        "follow_up.sub_task_missing",
        actor=ACTOR,
        case=follow_up.case,
        obj=follow_up,
        after={"key": follow_up.jira_key, "then": "filed again"},
    )


def close_from_jira(follow_up_id: int, status_name: str) -> bool:
    with transaction.atomic():
        follow_up = FollowUp.objects.select_for_update().select_related("case").get(pk=follow_up_id)
        if not follow_up.is_open:
            return False  # closed meanwhile, on the case page
        follow_up.close(ACTOR, f"Resolved in Jira ({status_name}).", "follow_up.closed_in_jira")
    return True


def complete_if_done(case: Case) -> bool:
    """A case whose Okta work is done and whose follow-ups are all closed is completed; audited."""
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        if locked.state != Case.State.REVOKED_IN_OKTA or locked.follow_ups.filter(status=FollowUp.Status.OPEN):
            return False
        closed = list(locked.follow_ups.values_list("id", flat=True))
        locked.move_to(Case.State.COMPLETED, ACTOR, "case.follow_ups_closed", after={"follow_ups": closed})
    comment(locked, locked.jira_key, f"Every follow-up is closed ({len(closed)}): the case is completed.")
    return True


def comment_on_sub_task(follow_up: FollowUp, text: str) -> None:
    """Say on the sub-task what was decided here (closed by an approver)."""
    comment(follow_up.case, follow_up.jira_key, text, follow_up)


def comment(case: Case, key: str, text: str, obj: FollowUp | None = None) -> None:
    """Add `text` to the Jira issue `key` of the case; a Jira failure is audited, not raised."""
    if not key:
        return
    after = {"key": key, "text": text}
    try:
        JiraClient.from_settings().add_comment(key, adf.doc(adf.paragraph(text)))
        AuditEvent.record("jira.comment_added", actor=ACTOR, case=case, obj=obj, after=after)
    except VendorError as e:
        after["error"] = str(e)
        AuditEvent.record("jira.comment_failed", actor=ACTOR, case=case, obj=obj, after=after)


def open_per_case(case_ids: list[int]) -> dict[int, tuple[int, timedelta]]:
    """For each of these cases with open follow-ups: how many, and the age of the oldest (one query)."""
    rows = (
        FollowUp.objects.filter(case__in=case_ids, status=FollowUp.Status.OPEN)
        .values("case")
        .annotate(n=Count("id"), oldest=Min("opened_at"))
        .order_by()
    )
    now = timezone.now()
    return {row["case"]: (row["n"], now - row["oldest"]) for row in rows}
