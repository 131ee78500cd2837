"""What Okta will not undo becomes follow-up work, tracked to the end: Jira sub-tasks of the case's ticket,
read back by a schedule, closable by an approver with a note; the case is completed once all are closed."""

import csv
import io
import json
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from offboarding import decisions, restore, revocation, sync
from offboarding import follow_ups as follow_up_work
from offboarding.evidence import evidence_of
from offboarding.models import AuditEvent, Case, FollowUp
from tests.factories import make_past_case
from tests.processes import PRODUCTION, manage

SALESFORCE_OWNER = "5b10ac8d82e05b22cc7d4ef5"  # one of the sandbox Jira's people


@pytest.fixture
def everything_case(org, leaver, approver):
    """An approved, due case of a person with an SSO-only app, an app whose provisioning deactivates users
    (through a group), an inactive app, a group they own and a group a rule puts them in, all in the sandbox's
    Okta: what Okta will not undo is the first app, the inactive one and the ownership."""

    def make(**kwargs) -> Case:
        person = leaver(days_ahead=-1, **kwargs)
        uid = person["user_id"]
        org.add_okta_app("Salesforce", sign_on_mode="SAML_2_0", users=[uid])
        org.add_okta_app("Slack", provisioning=True, deactivate_users=True, groups=[person["groups"][0]])
        org.add_okta_app("Legacy Wiki", status="INACTIVE", users=[uid])
        owned = org.add_okta_group("Finance Approvers")
        org.add_okta_group_owner(owned["id"], uid)
        ruled = org.add_okta_group("Engineering All")
        org.add_okta_rule("Engineers", [ruled["id"]], [uid])
        sync.sync_workday()
        case = Case.objects.get(termination__employee_id=person["employee_id"])
        return decisions.approve(case.pk, approver, "HR confirmed")

    return make


@pytest.fixture
def revoked_case(everything_case):
    """That case revoked: its follow-ups open, as sub-tasks of its ticket."""

    def make(**kwargs) -> Case:
        case = everything_case(**kwargs)
        revocation.run_case(case.pk)
        return Case.objects.get(pk=case.pk)

    return make


def sub_tasks(sandbox) -> list[dict]:
    return [i for i in sandbox.jira_issues() if i["fields"]["issuetype"] == "Sub-task"]


def close_on_page(client, follow_up: FollowUp, note: str = "Account disabled in Salesforce by IT"):
    url = reverse("close_follow_up", args=[follow_up.pk])
    return client.post(url, {"note": note}, follow=True)


class TestTheWholeWay:
    def test_everything_okta_leaves_behind_is_tracked_until_jira_says_it_is_done(self, org, everything_case):
        case = everything_case()
        plan = case.plan
        assert {(a["label"], a["deprovisions_on_deactivate"], a["status"]) for a in plan["apps"]} == {
            ("Salesforce", False, "ACTIVE"),
            ("Slack", True, "ACTIVE"),
            ("Legacy Wiki", False, "INACTIVE"),
        }
        assert [g["name"] for g in plan["owned_groups"]] == ["Finance Approvers"]
        assert [g["group_name"] for g in plan["rule_groups"]] == ["Engineering All"]

        revocation.run_case(case.pk)
        case.refresh_from_db()
        assert case.state == Case.State.REVOKED_IN_OKTA
        assert case.status_line == "Access revoked in Okta; 3 follow-ups open"
        tasks = sub_tasks(org)
        assert len(tasks) == 3 and {t["fields"]["parent"] for t in tasks} == {case.jira_key}

        for task in tasks:
            org.set_jira_status(task["key"], "Done")
        call_command("sync_follow_ups")
        case.refresh_from_db()
        assert case.state == Case.State.COMPLETED
        assert case.status_line == "Completed"


class TestOpening:
    def test_a_revocation_opens_one_follow_up_per_thing_okta_will_not_undo(self, revoked_case):
        case = revoked_case()
        assert case.state == Case.State.REVOKED_IN_OKTA
        assert case.status_line == "Access revoked in Okta; 3 follow-ups open"
        opened = {(f.kind, f.target_name) for f in case.follow_ups.all()}
        assert opened == {("app", "Salesforce"), ("app", "Legacy Wiki"), ("group_owner", "Finance Approvers")}
        assert AuditEvent.objects.filter(case=case, action="follow_up.opened").count() == 3

    def test_each_follow_up_is_a_sub_task_of_the_case_ticket(self, org, revoked_case):
        case = revoked_case()
        tasks = sub_tasks(org)
        assert len(tasks) == 3
        assert {t["fields"]["parent"] for t in tasks} == {case.jira_key}
        follow_ups = {f.jira_key: f for f in case.follow_ups.all()}
        assert set(follow_ups) == {t["key"] for t in tasks}
        for task in tasks:
            follow_up = follow_ups[task["key"]]
            assert follow_up.label in task["fields"]["labels"]
            assert follow_up.what in task["fields"]["summary"] or follow_up.target_name in task["fields"]["summary"]
        assert AuditEvent.objects.filter(case=case, action="jira.file_ticket.done").count() == 2 + 3
        assert AuditEvent.objects.filter(case=case, action="follow_up.filed").count() == 3

    def test_the_app_owner_is_assigned_where_one_is_configured(self, org, revoked_case, settings):
        settings.FOLLOW_UP_OWNERS = {"Salesforce": SALESFORCE_OWNER}
        case = revoked_case()
        salesforce = case.follow_ups.get(target_name="Salesforce")
        assert salesforce.owner == SALESFORCE_OWNER
        assignees = {t["key"]: t["fields"]["assignee"] for t in sub_tasks(org)}
        assert assignees[salesforce.jira_key] == SALESFORCE_OWNER
        assert [a for key, a in assignees.items() if key != salesforce.jira_key] == [None, None]

    def test_a_case_okta_leaves_nothing_behind_for_is_completed_with_no_sub_task(self, org, approved_case):
        case = approved_case()
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        assert not FollowUp.objects.exists()
        assert sub_tasks(org) == []

    def test_a_rerun_opens_and_files_nothing_twice(self, org, revoked_case):
        case = revoked_case()
        Case.objects.filter(pk=case.pk).update(state=Case.State.APPROVED)
        revocation.run_case(case.pk)
        assert case.follow_ups.count() == 3
        assert len(sub_tasks(org)) == 3


class TestFilingFailures:
    def test_a_sub_task_jira_refuses_stays_unfiled_is_alerted_and_filed_by_the_schedule(
        self, org, revoked_case, settings, mailoutbox
    ):
        settings.ALERT_EMAILS = ["security-oncall@acme.example"]
        # The ticket and its attachment go through; every sub-task after them meets a Jira in trouble.
        org.fault("jira", "error", "POST /rest/api/3/issue", status=503, after=1)
        case = revoked_case()
        assert case.state == Case.State.REVOKED_IN_OKTA and case.ticket == Case.Ticket.FILED
        assert sub_tasks(org) == []
        unfiled = list(case.follow_ups.all())
        assert [f.jira_key for f in unfiled] == ["", "", ""]
        assert all("503" in f.filing_error or "Service Unavailable" in f.filing_error for f in unfiled)
        assert AuditEvent.objects.filter(case=case, action="jira.file_ticket.failed").count() == 3
        assert len([m for m in mailoutbox if "could not be filed in Jira" in m.subject]) == 3

        call_command("sync_follow_ups")  # Jira still refuses: tried again, not alerted again
        assert sub_tasks(org) == [] and len([m for m in mailoutbox if "could not be filed" in m.subject]) == 3
        org.clear_faults()
        call_command("sync_follow_ups")
        assert len(sub_tasks(org)) == 3
        assert all(f.jira_key and not f.filing_error for f in case.follow_ups.all())

    def test_a_jira_project_without_a_sub_task_type_is_named_on_each_follow_up(self, org, revoked_case):
        org.jira_remove_issue_type("Sub-task")
        case = revoked_case()
        assert case.ticket == Case.Ticket.FILED
        errors = {f.filing_error for f in case.follow_ups.all()}
        assert len(errors) == 1 and errors.pop().endswith("HTTP 400 issuetype: Specify a valid issue type")

    def test_sub_tasks_wait_for_their_parent_ticket(self, org, revoked_case):
        org.fault("jira", "outage")
        case = revoked_case()
        assert case.ticket == Case.Ticket.PENDING
        assert {f.jira_key for f in case.follow_ups.all()} == {""}
        org.clear_faults()
        Case.objects.filter(pk=case.pk).update(finished_at=case.finished_at.replace(year=2020))
        call_command("retry_tickets")
        tasks = sub_tasks(org)
        assert len(tasks) == 3
        assert {t["fields"]["parent"] for t in tasks} == {Case.objects.get(pk=case.pk).jira_key}


class TestReadBackFromJira:
    def test_the_case_is_completed_once_jira_resolves_every_sub_task(self, org, revoked_case):
        case = revoked_case()
        first, second, third = case.follow_ups.all()
        org.set_jira_status(first.jira_key, "Done")
        org.set_jira_status(second.jira_key, "Won't Do")
        org.set_jira_status(third.jira_key, "In Progress")
        call_command("sync_follow_ups")
        case.refresh_from_db()
        assert case.state == Case.State.REVOKED_IN_OKTA
        assert case.status_line == "Access revoked in Okta; 1 follow-up open"
        closed = FollowUp.objects.get(pk=first.pk)
        assert (closed.status, closed.closed_by_name, closed.close_note) == (
            "closed",
            "system:follow_ups",
            "Resolved in Jira (Done).",
        )

        org.set_jira_status(third.jira_key, "Done")
        call_command("sync_follow_ups")
        case.refresh_from_db()
        assert case.state == Case.State.COMPLETED
        assert AuditEvent.objects.filter(case=case, action="follow_up.closed_in_jira").count() == 3
        assert AuditEvent.objects.filter(case=case, action="case.follow_ups_closed").count() == 1

    def test_when_jira_cannot_be_read_nothing_is_closed_and_the_failure_is_audited(self, org, revoked_case):
        case = revoked_case()
        for follow_up in case.follow_ups.all():
            org.set_jira_status(follow_up.jira_key, "Done")
        org.fault("jira", "outage")
        call_command("sync_follow_ups")
        assert FollowUp.objects.filter(status="open").count() == 3
        assert AuditEvent.objects.filter(action="jira.follow_up_statuses_failed").exists()

    def test_the_schedule_is_registered_at_migrate(self, db, settings):
        from django_q.models import Schedule

        from offboarding.apps import ensure_schedules

        ensure_schedules()
        schedule = Schedule.objects.get(name="sync_follow_ups")
        assert schedule.args == "'sync_follow_ups'"
        assert schedule.minutes == settings.FOLLOW_UP_SYNC_MINUTES == 15


class TestClosingOnTheCasePage:
    def test_an_approver_closes_one_with_a_note_and_the_sub_task_is_told(self, client, org, approver, revoked_case):
        case = revoked_case()
        follow_up = case.follow_ups.get(target_name="Salesforce")
        client.force_login(approver)
        response = close_on_page(client, follow_up)
        assert "Follow-up closed" in response.content.decode()
        follow_up.refresh_from_db()
        assert (follow_up.status, follow_up.closed_by, follow_up.close_note) == (
            "closed",
            approver,
            "Account disabled in Salesforce by IT",
        )
        event = AuditEvent.objects.get(case=case, action="follow_up.closed")
        assert event.actor == approver and event.after["close_note"] == "Account disabled in Salesforce by IT"
        (task,) = [i for i in org.jira_issues() if i["key"] == follow_up.jira_key]
        assert "Account disabled in Salesforce by IT" in str(task["comments"])
        assert Case.objects.get(pk=case.pk).status_line == "Access revoked in Okta; 2 follow-ups open"

    def test_closing_the_last_one_completes_the_case(self, client, approver, revoked_case):
        case = revoked_case()
        client.force_login(approver)
        for follow_up in case.follow_ups.all():
            close_on_page(client, follow_up, "Done by hand")
        assert Case.objects.get(pk=case.pk).state == Case.State.COMPLETED

    def test_a_note_is_required(self, client, approver, revoked_case):
        case = revoked_case()
        follow_up = case.follow_ups.first()
        client.force_login(approver)
        response = close_on_page(client, follow_up, note="   ")
        assert "A reason is required to close a follow-up" in response.content.decode()
        assert FollowUp.objects.get(pk=follow_up.pk).is_open

    def test_auditors_are_refused(self, client, auditor, revoked_case):
        case = revoked_case()
        follow_up = case.follow_ups.first()
        client.force_login(auditor)
        response = client.post(reverse("close_follow_up", args=[follow_up.pk]), {"note": "x"})
        assert response.status_code == 403
        assert FollowUp.objects.get(pk=follow_up.pk).is_open
        assert not AuditEvent.objects.filter(action="follow_up.closed").exists()

    def test_it_only_allows_post(self, client, approver, revoked_case):
        case = revoked_case()
        client.force_login(approver)
        response = client.get(reverse("close_follow_up", args=[case.follow_ups.first().pk]))
        assert response.status_code == 405

    def test_an_unknown_follow_up_or_one_closed_already_is_refused(self, client, approver, revoked_case):
        case = revoked_case()
        follow_up = case.follow_ups.first()
        client.force_login(approver)
        assert client.post(reverse("close_follow_up", args=[987654]), {"note": "x"}).status_code == 404
        close_on_page(client, follow_up)
        again = close_on_page(client, follow_up, "twice")
        assert "was closed already, by alice" in again.content.decode()
        assert AuditEvent.objects.filter(action="follow_up.closed").count() == 1

    def test_the_case_page_shows_the_follow_ups_with_their_sub_tasks(self, client, auditor, revoked_case):
        case = revoked_case()
        client.force_login(auditor)
        body = client.get(case.get_absolute_url()).content.decode()
        assert "Access revoked in Okta; 3 follow-ups open" in body
        for follow_up in case.follow_ups.all():
            assert escape(follow_up.what) in body and follow_up.jira_key in body
        assert "Close this follow-up" not in body  # auditors read only


def open_follow_up(case: Case, target: str, days_old: float, **fields) -> FollowUp:
    return FollowUp.objects.create(
        case=case,
        kind=FollowUp.Kind.APP,
        target_id=f"0oa-{target}",
        target_name=target,
        what=f"Deactivate the account in {target}",
        jira_key=fields.pop("jira_key", f"SEC-{target}"),
        opened_at=timezone.now() - timedelta(days=days_old),
        **fields,
    )


@pytest.mark.django_db
class TestWhereOpenFollowUpsShow:
    @pytest.fixture
    def cases(self):
        """One case with two open follow-ups (the older three days old) and a closed one; one with none."""
        case = make_past_case("E1", "Ann Follow", state=Case.State.REVOKED_IN_OKTA, left=date.today())
        open_follow_up(case, "Salesforce", 3.2)
        open_follow_up(case, "Zoom", 1)
        open_follow_up(case, "Box", 9, status=FollowUp.Status.CLOSED, closed_at=timezone.now())
        return case, make_past_case("E2", "Bea Done", left=date.today())

    def test_the_sla_page_lists_every_open_follow_up_oldest_first_with_its_age(self, client, auditor, cases):
        client.force_login(auditor)
        body = client.get(reverse("sla")).content.decode()
        assert '<dd id="follow-ups-open">2</dd>' in body
        listed = body[body.index("Open follow-ups, oldest first") :]
        assert listed.index("Salesforce") < listed.index("Zoom")
        assert "3 d 4 h" in listed and "Box" not in listed

    def test_the_history_shows_how_many_are_open_and_the_oldest_age(self, client, auditor, cases):
        client.force_login(auditor)
        body = client.get(reverse("history")).content.decode()
        assert "Follow-ups open" in body
        assert '<td class="follow-ups-open">2 (oldest 3 d 4 h)</td>' in body
        assert '<td class="follow-ups-open">—</td>' in body

    def test_the_export_has_them(self, client, auditor, cases):
        case, done = cases
        client.force_login(auditor)
        response = client.get(reverse("history_export", args=["csv"]))
        text = b"".join(response).decode().lstrip("\ufeff")
        rows = {row["case_id"]: row for row in csv.DictReader(io.StringIO(text))}
        oldest = case.follow_ups.get(target_name="Salesforce").opened_at
        assert rows[str(case.pk)]["follow_ups_open"] == "2"
        assert rows[str(case.pk)]["oldest_open_follow_up_at"] == oldest.isoformat()
        assert (rows[str(done.pk)]["follow_ups_open"], rows[str(done.pk)]["oldest_open_follow_up_at"]) == ("0", "")
        document = json.loads(b"".join(client.get(reverse("history_export", args=["json"]))))
        exported = {c["case_id"]: c for c in document["cases"]}
        assert exported[case.pk]["follow_ups_open"] == 2 and exported[done.pk]["follow_ups_open"] == 0

    def test_the_evidence_has_each_follow_up_and_who_closed_it(self, cases):
        case, _ = cases
        listed = {f["target_name"]: f for f in evidence_of(case)["follow_ups"]}
        assert set(listed) == {"Salesforce", "Zoom", "Box"}
        assert listed["Box"]["status"] == "closed" and listed["Zoom"]["jira_key"] == "SEC-Zoom"


class TestOwnersSetting:
    @pytest.mark.parametrize(
        "value",
        ['{"Salesforce": ', '["5b10ac8d82e05b22cc7d4ef5"]', '{"Salesforce": 42}', '{"Salesforce": "not an id"}',
         '{" ": "5b10ac8d82e05b22cc7d4ef5"}'],
    )  # fmt: skip
    def test_a_malformed_mapping_stops_start_up_naming_it(self, value):
        result = manage("check", **{**PRODUCTION, "FOLLOW_UP_OWNERS": value})
        assert result.returncode != 0
        assert "FOLLOW_UP_OWNERS" in result.stderr

    def test_a_mapping_of_app_labels_to_jira_account_ids_is_read(self):
        owners = '{"Salesforce": "5b10ac8d82e05b22cc7d4ef5", "0oa1b2c3": "712020:5f0c6a2e-7c61"}'
        script = "from django.conf import settings; print(sorted(settings.FOLLOW_UP_OWNERS.items()))"
        result = manage("shell", "-c", script, **{**PRODUCTION, "FOLLOW_UP_OWNERS": owners})
        assert result.returncode == 0, result.stderr
        last = result.stdout.strip().splitlines()[-1]
        assert last == "[('0oa1b2c3', '712020:5f0c6a2e-7c61'), ('Salesforce', '5b10ac8d82e05b22cc7d4ef5')]"


class TestTheTicket:
    def test_the_ticket_names_each_follow_up_and_hears_when_the_case_completes(self, org, revoked_case):
        case = revoked_case()
        (ticket,) = [i for i in org.jira_issues() if i["key"] == case.jira_key]
        text = str(ticket["fields"]["description"])
        assert "REVOKED IN OKTA: access revoked and verified. 3 follow-ups open." in text
        assert "What Okta will not undo: follow-ups (3)" in text
        for follow_up in case.follow_ups.all():
            assert follow_up.what in text
            org.set_jira_status(follow_up.jira_key, "Done")
        call_command("sync_follow_ups")
        (ticket,) = [i for i in org.jira_issues() if i["key"] == case.jira_key]
        assert "Every follow-up is closed (3): the case is completed." in str(ticket["comments"])


class TestRestore:
    @pytest.fixture
    def restore_approved(self, make_user):
        def approve(case: Case) -> None:
            decisions.request_restore(case.pk, make_user("ann", "approvers"), "Rescinded: HR made a mistake")
            decisions.approve_restore(case.pk, make_user("ben", "approvers"))

        return approve

    def test_a_restore_closes_the_open_follow_ups_and_tells_their_sub_tasks(self, org, revoked_case, restore_approved):
        case = revoked_case()
        restore_approved(case)
        assert restore.restore_case(case.pk) == "restored"
        assert Case.objects.get(pk=case.pk).state == Case.State.COMPLETED
        follow_ups = list(case.follow_ups.all())
        assert {(f.status, f.close_note) for f in follow_ups} == {("closed", follow_up_work.RESTORED)}
        assert AuditEvent.objects.filter(case=case, action="follow_up.closed_by_restore").count() == 3
        comments = {i["key"]: str(i["comments"]) for i in org.jira_issues()}
        assert all(follow_up_work.RESTORED in comments[f.jira_key] for f in follow_ups)

    def test_a_rule_exclusion_okta_will_not_clear_becomes_a_follow_up(self, org, revoked_case, restore_approved):
        case = revoked_case()
        restore_approved(case)
        org.fault("okta", "error", endpoint="PUT /api/v1/groups/rules/*", status=503)
        assert restore.restore_case(case.pk) == "restore incomplete"
        (rule_group,) = case.follow_ups.filter(kind=FollowUp.Kind.RULE_GROUP)
        assert rule_group.is_open and rule_group.target_name == "Engineering All"
        assert "Engineers" in rule_group.what
        org.clear_faults()
        call_command("sync_follow_ups")
        assert FollowUp.objects.get(pk=rule_group.pk).jira_key  # filed under the ticket by the schedule


class TestASubTaskDeletedInJira:
    def test_it_is_filed_again_and_the_others_are_still_read(self, org, revoked_case):
        case = revoked_case()
        first, second, _ = case.follow_ups.all()
        org.delete_jira_issue(first.jira_key)
        org.set_jira_status(second.jira_key, "Done")
        call_command("sync_follow_ups")  # reads the rest, and takes the deleted one's key off it
        assert FollowUp.objects.get(pk=second.pk).status == FollowUp.Status.CLOSED
        assert AuditEvent.objects.filter(case=case, action="follow_up.sub_task_missing").count() == 1
        call_command("sync_follow_ups")  # files it again
        again = FollowUp.objects.get(pk=first.pk)
        assert again.is_open and again.jira_key not in ("", first.jira_key)
        (task,) = [i for i in org.jira_issues() if i["key"] == again.jira_key]
        assert task["fields"]["parent"] == case.jira_key
