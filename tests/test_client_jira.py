"""The Jira client against the simulated Jira site, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from offboarding.clients import adf
from offboarding.clients.errors import AuthenticationFailed, InvalidRequest, NotFound, TransientError
from offboarding.clients.jira import JiraClient
from tests.fake_clock import FakeClock
from tests.processes import wait_for

DESCRIPTION = adf.doc(
    adf.heading("Offboarded: Ada Lovelace (E9001)"),
    adf.paragraph("Okta user ", adf.code("00u123"), " was ", adf.strong("deactivated"), "."),
    adf.table(["Group", "Result"], [["Engineering", "removed"], ["Everyone", "kept (built-in)"]]),
    adf.bullet_list("sessions cleared", ["see ", adf.link("the case", "https://offboarding.example.com/cases/1")]),
    adf.code_block('{"status": "DEPROVISIONED"}', "json"),
)


def jira_calls(sandbox: Any, method: str, contains: str = "") -> list[dict]:
    return [r for r in sandbox.requests("jira") if r["method"] == method and contains in r["path"]]


def issues_labelled(sandbox: Any, label: str) -> list[dict]:
    return [i for i in sandbox.jira_issues() if label in i["fields"]["labels"]]


class TestCreatingIssues:
    def test_it_files_an_issue_with_an_adf_description(self, jira: JiraClient, sandbox: Any) -> None:
        issue = jira.create_issue("Offboarding: Ada Lovelace", DESCRIPTION, ["offboarding", "case-1"])

        assert issue.key.startswith("SEC-") and issue.url.endswith(f"/browse/{issue.key}")
        [filed] = issues_labelled(sandbox, "case-1")
        assert filed["key"] == issue.key
        assert filed["fields"]["summary"] == "Offboarding: Ada Lovelace"
        assert filed["fields"]["description"] == DESCRIPTION

    def test_it_reports_jira_refusing_a_description_that_is_not_adf(self, jira: JiraClient, sandbox: Any) -> None:
        with pytest.raises(InvalidRequest) as caught:
            jira.create_issue("Offboarding: plain text", {"type": "doc", "content": "plain text"}, ["case-2"])
        error = caught.value
        assert error.status == 400 and "description" in error.details["errors"]
        assert "description" in str(error)
        assert issues_labelled(sandbox, "case-2") == []

    def test_it_does_not_retry_a_create_after_a_5xx(self, jira: JiraClient, sandbox: Any) -> None:
        sandbox.fault("jira", "error", endpoint="POST /rest/api/3/issue", status=502, count=1)
        with pytest.raises(TransientError) as caught:
            jira.create_issue("Offboarding: once", DESCRIPTION, ["case-3"])
        assert caught.value.ambiguous and caught.value.status == 502
        assert len(jira_calls(sandbox, "POST", "/rest/api/3/issue")) == 1

    def test_it_retries_a_create_that_was_only_rate_limited(self, jira: JiraClient, sandbox: Any) -> None:
        sandbox.fault("jira", "rate_limit", endpoint="POST /rest/api/3/issue", count=1, retry_after=0)
        jira.create_issue("Offboarding: after a 429", DESCRIPTION, ["case-4"])
        assert [r["status"] for r in jira_calls(sandbox, "POST", "/rest/api/3/issue")] == [429, 201]
        assert len(issues_labelled(sandbox, "case-4")) == 1


class TestTheDuplicateTicketCheck:
    def test_it_finds_issues_by_label(self, jira: JiraClient, sandbox: Any) -> None:
        filed = jira.create_issue("Offboarding: Ada", DESCRIPTION, ["offboarding-case-41"])
        jira.create_issue("Offboarding: Bob", DESCRIPTION, ["offboarding-case-42"])

        assert [i.key for i in jira.find_issues_by_label("offboarding-case-41")] == [filed.key]
        assert jira.find_issues_by_label("offboarding-case-43") == []

    def test_a_create_that_timed_out_is_found_by_its_label(self, make_jira: Any, sandbox: Any) -> None:
        sandbox.fault("jira", "latency", endpoint="POST /rest/api/3/issue", seconds=0.6, count=1)
        with pytest.raises(TransientError) as caught:
            make_jira(read_timeout=0.2).create_issue("Offboarding: slow", DESCRIPTION, ["case-44"])
        assert caught.value.ambiguous
        assert len(jira_calls(sandbox, "POST", "/rest/api/3/issue")) <= 1

        # Jira filed it after all: the label check finds it, so nobody files a second one.
        jira = make_jira()
        found = wait_for(lambda: jira.find_issues_by_label("case-44"), 5, "Jira to file it", every=0.02)
        assert len(found) == 1 == len(issues_labelled(sandbox, "case-44"))


class TestCommentsAndAttachments:
    def test_it_adds_a_comment(self, jira: JiraClient, sandbox: Any) -> None:
        issue = jira.create_issue("Offboarding: comments", DESCRIPTION, ["case-5"])
        comment = adf.doc(adf.paragraph("Verified: user is ", adf.strong("DEPROVISIONED"), "."))
        assert jira.add_comment(issue.key, comment)
        [filed] = issues_labelled(sandbox, "case-5")
        assert [c["body"] for c in filed["comments"]] == [comment]

    def test_it_reads_every_comment_page_by_page(self, jira: JiraClient, sandbox: Any) -> None:
        issue = jira.create_issue("Offboarding: many comments", DESCRIPTION, ["case-7"])
        for n in range(103):
            jira.add_comment(issue.key, adf.doc(adf.paragraph(f"comment {n}")))
        comments = jira.list_comments(issue.key)
        assert [adf.plain_text(c.body) for c in comments] == [f"comment {n}" for n in range(103)]
        assert len(jira_calls(sandbox, "GET", "/comment")) == 2  # 100, then 3

    def test_it_attaches_a_file(self, jira: JiraClient, sandbox: Any) -> None:
        issue = jira.create_issue("Offboarding: evidence", DESCRIPTION, ["case-6"])
        attached = jira.attach_file(issue.key, "evidence.json", b'{"groups": []}', "application/json")
        assert attached and attached[0]["filename"] == "evidence.json"
        [filed] = issues_labelled(sandbox, "case-6")
        assert [a["filename"] for a in filed["attachments"]] == ["evidence.json"]

    def test_it_reads_an_issue(self, jira: JiraClient) -> None:
        created = jira.create_issue("Offboarding: read me", DESCRIPTION, ["case-7"])
        issue = jira.get_issue(created.key)
        assert (issue.key, issue.fields["summary"], issue.fields["labels"]) == (
            created.key,
            "Offboarding: read me",
            ["case-7"],
        )

    def test_it_raises_not_found_with_jira_error_messages(self, jira: JiraClient) -> None:
        with pytest.raises(NotFound) as caught:
            jira.get_issue("SEC-99999")
        assert caught.value.status == 404 and caught.value.summary


class TestJiraFailures:
    def test_it_waits_for_retry_after_on_a_429(self, jira: JiraClient, make_jira: Any, sandbox: Any) -> None:
        created = jira.create_issue("Offboarding: busy", DESCRIPTION, ["case-8"])
        sandbox.fault("jira", "rate_limit", endpoint="GET /rest/api/3/issue/*", count=2, retry_after=1)
        clock = FakeClock()
        assert make_jira(fake_clock=clock).get_issue(created.key).key == created.key
        assert [r["status"] for r in jira_calls(sandbox, "GET", created.key)] == [429, 429, 200]
        assert clock.sleeps == [1, 1]  # what Retry-After said, each time

    def test_it_retries_a_5xx_on_a_read(self, jira: JiraClient, sandbox: Any) -> None:
        created = jira.create_issue("Offboarding: flaky", DESCRIPTION, ["case-9"])
        sandbox.fault("jira", "error", endpoint="GET /rest/api/3/issue/*", status=503, count=1)
        assert jira.get_issue(created.key).key == created.key

    def test_it_gives_up_on_an_outage(self, jira: JiraClient, sandbox: Any) -> None:
        sandbox.fault("jira", "outage")
        with pytest.raises(TransientError):
            jira.find_issues_by_label("case-10")

    def test_it_reports_bad_credentials(self, make_jira: Any, settings: Any) -> None:
        settings.JIRA_API_TOKEN = "not-the-token"
        with pytest.raises(AuthenticationFailed) as caught:
            make_jira().find_issues_by_label("case-11")
        assert caught.value.status == 401


class TestSubTasksAndStatuses:
    def test_it_files_a_sub_task_of_a_ticket_assigned_to_its_owner(self, jira: JiraClient, sandbox: Any) -> None:
        parent = jira.create_issue("Offboarding: Ada Lovelace", DESCRIPTION, ["case-5"])
        task = jira.create_sub_task(
            parent.key,
            "Deactivate the Salesforce account",
            DESCRIPTION,
            ["case-5-follow-up-1"],
            "5b10ac8d82e05b22cc7d4ef5",
        )
        [filed] = issues_labelled(sandbox, "case-5-follow-up-1")
        assert filed["key"] == task.key
        assert (filed["fields"]["issuetype"], filed["fields"]["parent"]) == ("Sub-task", parent.key)
        assert filed["fields"]["assignee"] == "5b10ac8d82e05b22cc7d4ef5"

    def test_an_unassigned_sub_task_sends_no_assignee(self, jira: JiraClient, sandbox: Any) -> None:
        parent = jira.create_issue("Offboarding: Ada Lovelace", DESCRIPTION, ["case-6"])
        jira.create_sub_task(parent.key, "Hand over the group", DESCRIPTION, ["case-6-follow-up-1"])
        assert issues_labelled(sandbox, "case-6-follow-up-1")[0]["fields"]["assignee"] is None

    def test_it_names_a_missing_sub_task_type(self, make_jira: Any, sandbox: Any, settings: Any) -> None:
        settings.JIRA_SUBTASK_ISSUE_TYPE = "Subtask"  # what newer Jira projects call it; the sandbox's is "Sub-task"
        jira = make_jira()
        parent = jira.create_issue("Offboarding: Ada Lovelace", DESCRIPTION, ["case-7"])
        with pytest.raises(InvalidRequest) as caught:
            jira.create_sub_task(parent.key, "Deactivate", DESCRIPTION, ["case-7-follow-up-1"])
        assert "issuetype: Specify a valid issue type" in str(caught.value)

    def test_it_reads_the_status_of_many_issues_in_batches(self, jira: JiraClient, sandbox: Any) -> None:
        keys = [jira.create_issue(f"Offboarding {n}", DESCRIPTION, [f"case-s{n}"]).key for n in range(55)]
        sandbox.set_jira_status(keys[0], "Done")
        sandbox.clear_requests()
        statuses = jira.statuses([*keys, "SEC-999"])
        assert set(statuses) == set(keys)
        assert statuses[keys[0]]["statusCategory"]["key"] == "done"
        assert statuses[keys[1]]["name"] == "To Do"
        # 50 keys; then 6, which Jira refuses for naming SEC-999 (no such issue); then those 5 alone.
        assert [r["status"] for r in jira_calls(sandbox, "GET", "/search/jql")] == [200, 400, 200]


class TestCreateMetadata:
    def test_it_names_the_account_it_signs_in_as(self, jira: JiraClient, sandbox: Any) -> None:
        assert jira.myself()["emailAddress"] == sandbox.jira_email

    def test_it_reads_the_issue_types_and_a_create_screen(self, jira: JiraClient, sandbox: Any) -> None:
        types = {t["name"]: t for t in jira.create_issue_types()}
        assert types["Sub-task"]["subtask"] is True
        fields = {f["fieldId"]: f for f in jira.create_fields(types["Task"]["id"])}
        assert fields["summary"]["required"] is True
        assert fields["description"]["required"] is False

    def test_an_unknown_project_is_an_invalid_request(self, make_jira: Any, settings: Any) -> None:
        settings.JIRA_PROJECT_KEY = "OPS"
        with pytest.raises(InvalidRequest, match="No project could be found with key 'OPS'"):
            make_jira().create_issue_types()


class TestExtraFields:
    def test_jira_extra_fields_go_into_every_create(self, make_jira: Any, sandbox: Any, settings: Any) -> None:
        sandbox.jira_add_field("customfield_10010", "Security Team", "option", ["Security"], {"SEC": ["Task"]})
        settings.JIRA_EXTRA_FIELDS = {"customfield_10010": {"value": "Security"}}
        make_jira().create_issue("Offboarding: Ada", DESCRIPTION, ["case-60"])
        [filed] = issues_labelled(sandbox, "case-60")
        assert filed["fields"]["customfield_10010"] == {"value": "Security"}

    def test_it_finds_issues_by_any_of_several_labels(self, jira: JiraClient) -> None:
        first = jira.create_issue("One", DESCRIPTION, ["offboarding-prod-case-7"])
        second = jira.create_issue("Two", DESCRIPTION, ["offboarding-case-7"])
        jira.create_issue("Three", DESCRIPTION, ["offboarding-staging-case-7"])
        found = jira.find_issues_by_label("offboarding-prod-case-7", "offboarding-case-7")
        assert [i.key for i in found] == [first.key, second.key]
        assert found[1].fields["description"] == DESCRIPTION
