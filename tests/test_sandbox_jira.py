"""The simulated Jira Cloud, driven over HTTP; its answers are checked against Jira's v3 OpenAPI spec."""

import pytest
import requests

from tests.openapi_specs import check_jira


def doc(text):
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def jira(sandbox, method, path, auth=None, check=True, **kwargs):
    response = requests.request(
        method,
        sandbox.jira_url + path,
        auth=auth or (sandbox.jira_email, sandbox.jira_token),
        timeout=10,
        **kwargs,
    )
    return check_jira(response) if check else response


def issue_fields(**overrides):
    fields = {
        "project": {"key": "SEC"},
        "issuetype": {"name": "Task"},
        "summary": "Offboarding: Ada Lovelace (21003)",
        "description": doc("Okta access revoked."),
        "labels": ["offboarding", "employee-21003"],
    }
    return {**fields, **overrides}


def create(sandbox, **overrides):
    return jira(sandbox, "POST", "/rest/api/3/issue", json={"fields": issue_fields(**overrides)})


class TestAuthentication:
    @pytest.mark.parametrize(
        "auth", [("offboarding@example.com", "wrong"), ("someone@example.com", "sandbox-jira-token")]
    )
    def test_it_answers_401_for_bad_credentials(self, sandbox, auth):
        response = jira(sandbox, "GET", "/rest/api/3/issue/SEC-1", auth=auth)
        assert response.status_code == 401
        assert response.json()["errorMessages"]

    def test_it_answers_401_without_credentials(self, sandbox):
        response = requests.get(f"{sandbox.jira_url}/rest/api/3/issue/SEC-1", timeout=10)
        assert response.status_code == 401


class TestCreateIssue:
    def test_it_creates_issues_with_sequential_keys(self, sandbox):
        first, second = create(sandbox), create(sandbox, summary="Offboarding: Alan Turing (21004)")
        assert first.status_code == second.status_code == 201
        assert [first.json()["key"], second.json()["key"]] == ["SEC-1", "SEC-2"]
        assert first.json()["self"] == f"{sandbox.jira_url}/rest/api/3/issue/{first.json()['id']}"
        stored = sandbox.jira_issues()[0]
        assert stored["fields"]["labels"] == ["offboarding", "employee-21003"]
        assert stored["fields"]["description"] == doc("Okta access revoked.")

    def test_it_refuses_a_plain_string_description_on_v3(self, sandbox):
        response = create(sandbox, description="Okta access revoked.")
        assert response.status_code == 400
        assert response.json()["errorMessages"] == []
        assert "Atlassian Document" in response.json()["errors"]["description"]
        assert sandbox.jira_issues() == []

    def test_it_refuses_a_malformed_adf_document(self, sandbox):
        broken = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text"}]}]}
        assert create(sandbox, description=broken).status_code == 400

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"project": {"key": "NOPE"}}, "project"),
            ({"issuetype": {"name": "Saga"}}, "issuetype"),
            ({"summary": ""}, "summary"),
            ({"summary": "x" * 300}, "summary"),
            ({"labels": ["has space"]}, "labels"),
            ({"customfield_10099": "x"}, "customfield_10099"),
        ],
    )
    def test_it_answers_an_error_collection_for_bad_fields(self, sandbox, overrides, field):
        response = create(sandbox, **overrides)
        assert response.status_code == 400
        assert field in response.json()["errors"]

    def test_v2_takes_a_plain_text_description(self, sandbox):
        fields = issue_fields(description="Okta access revoked.\n\nTicket filed by the offboarding service.")
        response = requests.post(
            f"{sandbox.jira_url}/rest/api/2/issue",
            json={"fields": fields},
            auth=(sandbox.jira_email, sandbox.jira_token),
            timeout=10,
        )
        assert response.status_code == 201
        fetched = jira(sandbox, "GET", f"/rest/api/3/issue/{response.json()['key']}").json()
        assert fetched["fields"]["description"]["type"] == "doc"
        assert len(fetched["fields"]["description"]["content"]) == 2

    def test_v2_refuses_an_adf_description(self, sandbox):
        response = requests.post(
            f"{sandbox.jira_url}/rest/api/2/issue",
            json={"fields": issue_fields()},
            auth=(sandbox.jira_email, sandbox.jira_token),
            timeout=10,
        )
        assert response.status_code == 400
        assert "description" in response.json()["errors"]


class TestGetIssue:
    def test_it_returns_the_issue_by_key_or_id(self, sandbox):
        created = create(sandbox).json()
        by_key = jira(sandbox, "GET", f"/rest/api/3/issue/{created['key']}").json()
        by_id = jira(sandbox, "GET", f"/rest/api/3/issue/{created['id']}").json()
        assert by_key == by_id
        assert by_key["fields"]["summary"] == "Offboarding: Ada Lovelace (21003)"
        assert by_key["fields"]["project"]["key"] == "SEC"

    def test_it_answers_404_for_an_unknown_issue(self, sandbox):
        response = jira(sandbox, "GET", "/rest/api/3/issue/SEC-404")
        assert response.status_code == 404
        assert response.json()["errorMessages"] == ["Issue does not exist or you do not have permission to see it."]


class TestComments:
    def test_it_adds_an_adf_comment(self, sandbox):
        key = create(sandbox).json()["key"]
        response = jira(sandbox, "POST", f"/rest/api/3/issue/{key}/comment", json={"body": doc("Verified.")})
        assert response.status_code == 201
        assert response.json()["body"] == doc("Verified.")
        assert sandbox.jira_issues()[0]["comments"][0]["body"] == doc("Verified.")
        fetched = jira(sandbox, "GET", f"/rest/api/3/issue/{key}").json()
        assert fetched["fields"]["comment"]["total"] == 1

    def test_it_refuses_a_plain_string_comment(self, sandbox):
        key = create(sandbox).json()["key"]
        response = jira(sandbox, "POST", f"/rest/api/3/issue/{key}/comment", json={"body": "Verified."})
        assert response.status_code == 400
        assert "comment" in response.json()["errors"]

    def test_it_answers_404_for_an_unknown_issue(self, sandbox):
        response = jira(sandbox, "POST", "/rest/api/3/issue/SEC-9/comment", json={"body": doc("x")})
        assert response.status_code == 404

    def test_it_lists_comments_a_page_at_a_time_oldest_first(self, sandbox):
        key = create(sandbox).json()["key"]
        for n in range(3):
            jira(sandbox, "POST", f"/rest/api/3/issue/{key}/comment", json={"body": doc(f"comment {n}")})
        page = jira(sandbox, "GET", f"/rest/api/3/issue/{key}/comment", params={"startAt": 1, "maxResults": 1})
        assert page.status_code == 200
        body = page.json()
        assert (body["startAt"], body["maxResults"], body["total"]) == (1, 1, 3)
        assert [c["body"] for c in body["comments"]] == [doc("comment 1")]
        newest = jira(sandbox, "GET", f"/rest/api/3/issue/{key}/comment", params={"orderBy": "-created"}).json()
        assert newest["comments"][0]["body"] == doc("comment 2")

    def test_it_caps_a_page_of_comments_at_100(self, sandbox):
        key = create(sandbox).json()["key"]
        body = jira(sandbox, "GET", f"/rest/api/3/issue/{key}/comment", params={"maxResults": 5000}).json()
        assert body["maxResults"] == 100

    @pytest.mark.parametrize("params", [{"startAt": "x"}, {"maxResults": "-1"}, {"orderBy": "author"}])
    def test_it_refuses_a_bad_comment_page(self, sandbox, params):
        key = create(sandbox).json()["key"]
        response = jira(sandbox, "GET", f"/rest/api/3/issue/{key}/comment", params=params, check=False)
        assert response.status_code == 400
        assert response.json()["errorMessages"]


class TestAttachments:
    def attach(self, sandbox, key, headers):
        # The spec models the multipart body as an array openapi-core cannot build; the answer is checked.
        response = requests.post(
            f"{sandbox.jira_url}/rest/api/3/issue/{key}/attachments",
            files={"file": ("evidence.json", b'{"removed": 4}', "application/json")},
            headers=headers,
            auth=(sandbox.jira_email, sandbox.jira_token),
            timeout=10,
        )
        return check_jira(response, check_request=False)

    def test_it_stores_a_multipart_file(self, sandbox):
        key = create(sandbox).json()["key"]
        response = self.attach(sandbox, key, {"X-Atlassian-Token": "no-check"})
        assert response.status_code == 200
        assert response.json()[0]["filename"] == "evidence.json" and response.json()[0]["size"] == 14
        stored = sandbox.jira_issues()[0]["attachments"][0]
        assert stored["mimeType"] == "application/json"

    def test_it_refuses_an_upload_without_the_xsrf_header(self, sandbox):
        key = create(sandbox).json()["key"]
        response = self.attach(sandbox, key, {})
        assert response.status_code == 403
        assert sandbox.jira_issues()[0]["attachments"] == []

    def test_it_needs_a_file_part(self, sandbox):
        key = create(sandbox).json()["key"]
        response = requests.post(
            f"{sandbox.jira_url}/rest/api/3/issue/{key}/attachments",
            files={"other": ("x.txt", b"x")},
            headers={"X-Atlassian-Token": "no-check"},
            auth=(sandbox.jira_email, sandbox.jira_token),
            timeout=10,
        )
        assert response.status_code == 400


class TestSearch:
    @pytest.fixture
    def issues(self, sandbox):
        for n in range(3):
            create(sandbox, summary=f"Offboarding {n}", labels=["offboarding", "employee-21003"])
        create(sandbox, summary="Someone else", labels=["offboarding", "employee-99999"])

    def test_it_finds_issues_by_project_and_label(self, sandbox, issues):
        jql = 'project = SEC AND labels = "employee-21003"'
        response = jira(sandbox, "GET", "/rest/api/3/search/jql", params={"jql": jql, "fields": "summary,labels"})
        assert [i["key"] for i in response.json()["issues"]] == ["SEC-1", "SEC-2", "SEC-3"]
        assert response.json()["isLast"] is True
        assert response.json()["issues"][0]["fields"]["summary"] == "Offboarding 0"

    def test_it_returns_only_ids_unless_fields_are_asked_for(self, sandbox, issues):
        response = jira(sandbox, "GET", "/rest/api/3/search/jql", params={"jql": "project = SEC"})
        assert all("fields" not in issue for issue in response.json()["issues"])

    def test_it_pages_with_next_page_token(self, sandbox, issues):
        jql, keys, token = 'project = SEC AND labels = "offboarding" ORDER BY created DESC', [], None
        for _ in range(5):
            params = {"jql": jql, "maxResults": 3, "fields": "summary"}
            if token:
                params["nextPageToken"] = token
            page = jira(sandbox, "GET", "/rest/api/3/search/jql", params=params).json()
            keys += [i["key"] for i in page["issues"]]
            token = page.get("nextPageToken")
            if page["isLast"]:
                break
        assert keys == ["SEC-4", "SEC-3", "SEC-2", "SEC-1"]

    def test_it_searches_by_post_too(self, sandbox, issues):
        body = {"jql": 'project = SEC AND labels in ("employee-99999")', "fields": ["summary"]}
        response = jira(sandbox, "POST", "/rest/api/3/search/jql", json=body)
        assert [i["key"] for i in response.json()["issues"]] == ["SEC-4"]

    @pytest.mark.parametrize("jql", ["project SEC", "labels ~ offboarding", "project = SEC OR labels = x"])
    def test_it_answers_400_for_jql_it_cannot_parse(self, sandbox, jql):
        response = jira(sandbox, "GET", "/rest/api/3/search/jql", params={"jql": jql})
        assert response.status_code == 400
        assert response.json()["errorMessages"]

    def test_it_refuses_a_token_from_another_query(self, sandbox, issues):
        page = jira(sandbox, "GET", "/rest/api/3/search/jql", params={"jql": "project = SEC", "maxResults": 1}).json()
        other = {"jql": 'project = SEC AND labels = "offboarding"', "nextPageToken": page["nextPageToken"]}
        assert jira(sandbox, "GET", "/rest/api/3/search/jql", params=other).status_code == 400
