"""The ticket tells the whole truth and is always filed: within Jira's limits, with the fields the project
requires, and found again only by this installation, against the sandbox's Jira over HTTP."""

import base64
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from offboarding import revocation, tickets
from offboarding.clients import adf
from offboarding.clients.jira import JiraClient
from offboarding.models import AuditEvent, Case, Step

MORE = "full list in the attached evidence"


def evidence_of(issue: dict) -> dict:
    (attachment,) = issue["attachments"]
    return json.loads(base64.b64decode(attachment["content"]))


class TestWithinJirasLimit:
    def test_a_person_with_2000_groups_gets_one_ticket_within_the_limit_and_the_full_evidence(self, org, approved_case):
        case = approved_case(groups=tuple(f"Team {n:04}" for n in range(2000)), app_groups=())
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        case = Case.objects.get()
        assert case.ticket == Case.Ticket.FILED
        (issue,) = org.jira_issues()
        description = issue["fields"]["description"]
        assert adf.size(description) <= adf.TEXT_LIMIT
        text = json.dumps(description, ensure_ascii=False)
        assert "Groups removed (2000)" in text
        # The counts, the first groups, how many more, and every step that says the person is locked out.
        shown = [n for n in range(2000) if f"Team {n:04} E100" in text]
        assert 0 < len(shown) < 2000
        left_out = [int(n.replace(",", "")) for n in re.findall(rf"and ([\d,]+) more — {MORE}", text)]
        assert left_out and all(0 < n < 2000 for n in left_out)
        for step in ("Clear Sessions", "Deactivate", "Verify"):
            assert step in text
        # Everything the description had to leave out is in the evidence attached.
        evidence = evidence_of(issue)
        removed = [s for s in evidence["steps"] if s["kind"] == Step.Kind.REMOVE_GROUP and s["status"] == "done"]
        assert len(removed) == 2000
        assert {g["name"] for g in evidence["groups_before"]} >= {f"Team {n:04} E100" for n in range(2000)}

    def test_the_whole_description_of_2000_groups_would_be_refused(self, org, approved_case):
        case = approved_case(groups=tuple(f"Team {n:04}" for n in range(2000)), app_groups=())
        revocation.run_case(case.pk)
        steps = list(case.steps.exclude(kind=Step.Kind.FILE_TICKET))
        full = tickets.ticket_document(case, steps, None)
        assert not adf.fits(full)
        response = JiraClient.from_settings().transport.session.post(
            f"{org.jira_url}/rest/api/3/issue",
            json={
                "fields": {
                    "project": {"key": "SEC"},
                    "issuetype": {"name": "Task"},
                    "summary": "x",
                    "description": full,
                }
            },
            auth=(org.jira_email, org.jira_token),
            timeout=10,
        )
        assert response.status_code == 400
        assert response.json()["errors"]["description"] == (
            "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
        )

    def test_a_small_case_s_description_is_whole(self, org, approved_case):
        case = approved_case()
        revocation.run_case(case.pk)
        (issue,) = org.jira_issues()
        assert MORE not in json.dumps(issue["fields"]["description"], ensure_ascii=False)

    def test_a_fixed_part_too_long_for_jira_still_gives_a_description_jira_takes(self, org, approved_case):
        case = approved_case()
        revocation.run_case(case.pk)
        # A vendor's answer of 40,000 characters recorded on a step the table always shows.
        Step.objects.filter(kind=Step.Kind.DEACTIVATE).update(status=Step.Status.FAILED, detail={"error": "x" * 40_000})
        description = tickets.ticket_description(Case.objects.get())
        assert adf.fits(description)
        assert "Too long for a Jira description" in json.dumps(description)

    def test_a_comment_over_the_limit_is_cut_to_it_and_audited_whole(self, org, approved_case):
        case = approved_case()
        revocation.run_case(case.pk)
        case = Case.objects.get()
        long_text = "Restored: " + "group re-added; " * 3000
        tickets.comment_on_ticket(case, long_text)
        (issue,) = org.jira_issues()
        (comment,) = issue["comments"]
        assert adf.size(comment["body"]) <= adf.TEXT_LIMIT
        assert "cut to Jira's limit" in json.dumps(comment["body"])
        event = AuditEvent.objects.get(action="jira.comment_added")
        assert event.after["text"] == long_text


class TestRequiredFields:
    def require_team(self, sandbox):
        sandbox.jira_add_field(
            "customfield_10010", "Security Team", "option", ["Security", "IT"], required_for={"SEC": ["Task"]}
        )

    def test_a_project_that_requires_a_field_refuses_the_ticket_and_says_which(self, org, approved_case):
        self.require_team(org)
        case = approved_case()
        revocation.run_case(case.pk)
        case = Case.objects.get()
        assert case.ticket == Case.Ticket.PENDING
        assert org.jira_issues() == []
        step = Step.objects.get(kind=Step.Kind.FILE_TICKET, target="issue")
        assert "Security Team is required." in step.detail["error"]

    def test_a_refused_ticket_is_alerted_once_and_retried(self, org, approved_case, settings, mailoutbox):
        self.require_team(org)
        settings.ALERT_EMAILS = ["oncall@acme.example"]
        case = approved_case()
        revocation.run_case(case.pk)
        Case.objects.filter(pk=case.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
        assert tickets.retry_pending_tickets() == []
        (alert,) = [m for m in mailoutbox if "Jira refused the ticket" in m.subject]
        assert "Security Team is required." in alert.body and "check_vendors" in alert.body
        assert AuditEvent.objects.filter(action="jira.ticket_refused").count() == 1
        settings.JIRA_EXTRA_FIELDS = {"customfield_10010": {"value": "Security"}}
        assert tickets.retry_pending_tickets() == [case.pk]

    def test_the_same_refusal_of_many_tickets_is_one_alert(self, org, approved_case, settings, mailoutbox):
        self.require_team(org)
        settings.ALERT_EMAILS = ["oncall@acme.example"]
        for employee_id, first in (("E100", "Ada"), ("E200", "Alan")):
            revocation.run_case(approved_case(employee_id=employee_id, first=first).pk)
        assert len([m for m in mailoutbox if "Jira refused the ticket" in m.subject]) == 1
        assert AuditEvent.objects.filter(action="jira.ticket_refused").count() == 2

    def test_jira_extra_fields_fill_what_the_project_requires(self, org, approved_case, settings):
        self.require_team(org)
        settings.JIRA_EXTRA_FIELDS = {"customfield_10010": {"value": "Security"}}
        case = approved_case()
        revocation.run_case(case.pk)
        assert Case.objects.get().ticket == Case.Ticket.FILED
        (issue,) = org.jira_issues()
        assert issue["fields"]["customfield_10010"] == {"value": "Security"}

    def test_a_value_the_field_does_not_allow_is_refused(self, org, approved_case, settings):
        self.require_team(org)
        settings.JIRA_EXTRA_FIELDS = {"customfield_10010": {"value": "Marketing"}}
        case = approved_case()
        revocation.run_case(case.pk)
        assert Case.objects.get().ticket == Case.Ticket.PENDING
        assert "Option value 'Marketing' is not valid" in Step.objects.get(target="issue").detail["error"]


def refile_as_another_installation(case: Case, settings, install_id: str) -> Case:
    """The same case number in another installation's database, its ticket not filed yet."""
    settings.OFFBOARDING_INSTALL_ID = install_id
    Step.objects.filter(case=case, kind=Step.Kind.FILE_TICKET).delete()
    Case.objects.filter(pk=case.pk).update(jira_key="", ticket=Case.Ticket.PENDING)
    return Case.objects.get(pk=case.pk)


class TestTheLabelIsThisInstallations:
    def test_the_label_names_the_installation(self, org, approved_case, settings):
        settings.OFFBOARDING_INSTALL_ID = "staging"
        case = approved_case()
        revocation.run_case(case.pk)
        (issue,) = org.jira_issues()
        assert f"offboarding-staging-case-{case.pk}" in issue["fields"]["labels"]

    def test_a_second_installation_never_adopts_the_first_ones_ticket(self, org, approved_case, settings):
        settings.OFFBOARDING_INSTALL_ID = "staging"
        case = approved_case()
        revocation.run_case(case.pk)
        staging_key = Case.objects.get().jira_key
        case = refile_as_another_installation(case, settings, "prod")
        tickets.file_ticket(case)
        case = Case.objects.get()
        first, second = org.jira_issues()
        assert case.ticket == Case.Ticket.FILED
        assert case.jira_key == second["key"] != staging_key
        assert f"offboarding-prod-case-{case.pk}" in second["fields"]["labels"]
        # Staging's ticket is left as staging filed it.
        assert len(first["attachments"]) == 1
        assert f"offboarding-prod-case-{case.pk}" not in first["fields"]["labels"]

    def test_a_retry_in_the_same_installation_adopts_its_own_ticket(self, org, approved_case, settings):
        case = approved_case()
        revocation.run_case(case.pk)
        key = Case.objects.get().jira_key
        case = refile_as_another_installation(case, settings, settings.OFFBOARDING_INSTALL_ID)
        tickets.file_ticket(case)
        assert [i["key"] for i in org.jira_issues()] == [key]
        assert Step.objects.get(target="issue").detail["found_existing"] is True

    @pytest.mark.parametrize(("site", "adopted"), [("this", True), ("https://staging.example.com", False)])
    def test_a_ticket_under_the_old_label_is_adopted_only_when_it_links_this_sites_case(
        self, org, approved_case, settings, site, adopted
    ):
        case = approved_case()
        url = case.site_url if site == "this" else f"{site}/cases/{case.pk}/"
        old = JiraClient.from_settings().create_issue(
            "Filed before labels named the installation",
            adf.doc(adf.paragraph("Case: ", adf.link(url, url))),
            [case.legacy_label, "offboarding"],
        )
        revocation.run_case(case.pk)
        case = Case.objects.get()
        assert (case.jira_key == old.key) is adopted
        assert len(org.jira_issues()) == (1 if adopted else 2)
