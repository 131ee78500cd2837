"""The `jira` Python library's ordinary calls work against the simulated Jira unchanged, on REST v2 and v3.

JIRA(server=..., basic_auth=...) reads serverInfo first (Cloud: its searches go to /search/jql), resolves
a project key and an issue type name through the project, reads the field list before a search, and
reloads each issue it creates. Every answer here came over HTTP from the sandbox.
"""

import pytest
from jira import JIRA, JIRAError


def adf(text):
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


@pytest.fixture
def v2(sandbox):
    return JIRA(server=sandbox.jira_url, basic_auth=(sandbox.jira_email, sandbox.jira_token))


@pytest.fixture
def v3(sandbox):
    return JIRA(
        server=sandbox.jira_url,
        basic_auth=(sandbox.jira_email, sandbox.jira_token),
        options={"rest_api_version": "3"},
    )


class TestRestV2:
    def test_it_signs_in_and_sees_a_cloud_site(self, v2, sandbox):
        assert v2.server_info()["deploymentType"] == "Cloud"
        assert v2.myself()["emailAddress"] == sandbox.jira_email

    def test_create_issue_by_project_key_and_type_name(self, v2, sandbox):
        issue = v2.create_issue(
            project="SEC", summary="Ada Lovelace offboarded", description="Okta access revoked.", issuetype="Task"
        )
        assert issue.key == "SEC-1"
        assert issue.fields.summary == "Ada Lovelace offboarded"
        assert issue.fields.description == "Okta access revoked."
        assert issue.fields.issuetype.name == "Task"
        assert sandbox.jira_issues()[0]["fields"]["summary"] == "Ada Lovelace offboarded"

    def test_create_issue_with_a_fields_dict(self, v2):
        issue = v2.create_issue(
            fields={
                "project": {"key": "SEC"},
                "issuetype": {"name": "Task"},
                "summary": "Alan Turing offboarded",
                "labels": ["offboarding"],
            }
        )
        assert v2.issue(issue.key).fields.labels == ["offboarding"]

    def test_get_an_issue_with_some_fields(self, v2):
        key = v2.create_issue(project="SEC", summary="One", issuetype="Task").key
        issue = v2.issue(key, fields="summary,labels")
        assert issue.fields.summary == "One"
        assert not hasattr(issue.fields, "status")

    def test_add_a_plain_text_comment(self, v2, sandbox):
        key = v2.create_issue(project="SEC", summary="One", issuetype="Task").key
        comment = v2.add_comment(key, "Restored on request.")
        assert comment.body == "Restored on request."
        assert [c.body for c in v2.issue(key).fields.comment.comments] == ["Restored on request."]
        assert sandbox.jira_issues()[0]["comments"][0]["body"] == adf("Restored on request.")

    def test_search_issues_by_label(self, v2):
        for summary, labels in (("One", ["a"]), ("Two", ["b"]), ("Three", ["a"])):
            v2.create_issue(project="SEC", summary=summary, issuetype="Task", labels=labels)
        found = v2.search_issues('project = SEC AND labels = "a" ORDER BY created ASC')
        assert [issue.fields.summary for issue in found] == ["One", "Three"]

    def test_search_issues_every_page(self, v2):
        for n in range(5):
            v2.create_issue(project="SEC", summary=f"Issue {n}", issuetype="Task", labels=["many"])
        found = v2.search_issues("project = SEC AND labels = many", maxResults=False)
        assert len(found) == 5

    def test_an_unknown_issue_raises_the_library_error(self, v2):
        with pytest.raises(JIRAError) as error:
            v2.issue("SEC-99")
        assert error.value.status_code == 404

    def test_a_description_over_jira_s_limit_is_refused(self, v2, sandbox):
        with pytest.raises(JIRAError) as error:
            v2.create_issue(project="SEC", summary="Long", description="x" * 32_768, issuetype="Task")
        assert error.value.status_code == 400
        assert "exceeds the allowed limit of 32,767 characters" in error.value.text
        assert sandbox.jira_issues() == []


class TestRestV3:
    def test_create_issue_with_an_adf_description(self, v3):
        issue = v3.create_issue(project="SEC", summary="Ada", description=adf("Okta access revoked."), issuetype="Task")
        assert v3.issue(issue.key).raw["fields"]["description"] == adf("Okta access revoked.")

    def test_add_an_adf_comment(self, v3):
        key = v3.create_issue(project="SEC", summary="Ada", issuetype="Task").key
        v3.add_comment(key, adf("Restored."))
        assert v3.issue(key).raw["fields"]["comment"]["comments"][0]["body"] == adf("Restored.")

    def test_a_plain_string_comment_is_refused_as_jira_refuses_it(self, v3):
        key = v3.create_issue(project="SEC", summary="Ada", issuetype="Task").key
        with pytest.raises(JIRAError) as error:
            v3.add_comment(key, "plain")
        assert error.value.status_code == 400

    def test_search_issues(self, v3):
        v3.create_issue(project="SEC", summary="Ada", issuetype="Task", labels=["x"])
        found = v3.search_issues("project = SEC AND labels = x", fields="summary")
        assert [issue.fields.summary for issue in found] == ["Ada"]

    def test_a_required_custom_field_is_named_in_the_library_error(self, v3, sandbox):
        sandbox.jira_add_field(
            "customfield_10010", "Security Team", "option", ["Security", "IT"], required_for={"SEC": ["Task"]}
        )
        with pytest.raises(JIRAError) as error:
            v3.create_issue(project="SEC", summary="Ada", issuetype="Task")
        assert "Security Team is required." in error.value.text
        issue = v3.create_issue(project="SEC", summary="Ada", issuetype="Task", customfield_10010={"value": "Security"})
        assert v3.issue(issue.key).raw["fields"]["customfield_10010"] == {"value": "Security"}
