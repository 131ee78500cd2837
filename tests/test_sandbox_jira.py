"""The simulated Jira Cloud, driven over HTTP; its answers are checked against Jira's v3 OpenAPI spec."""

import json

import pytest
import requests

from tests.openapi_specs import check_jira

XSRF_CHECK_OFF = {"X-Atlassian-Token": "no-check"}


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


def attach(sandbox, key, headers=XSRF_CHECK_OFF, content=b'{"removed": 4}'):
    """Upload evidence.json to the issue. The spec models the multipart body as an array openapi-core cannot
    build; the answer is checked."""
    response = requests.post(
        f"{sandbox.jira_url}/rest/api/3/issue/{key}/attachments",
        files={"file": ("evidence.json", content, "application/json")},
        headers=headers,
        auth=(sandbox.jira_email, sandbox.jira_token),
        timeout=10,
    )
    return check_jira(response, check_request=False)


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
    def test_it_stores_a_multipart_file(self, sandbox):
        key = create(sandbox).json()["key"]
        response = attach(sandbox, key)
        assert response.status_code == 200
        assert response.json()[0]["filename"] == "evidence.json" and response.json()[0]["size"] == 14
        stored = sandbox.jira_issues()[0]["attachments"][0]
        assert stored["mimeType"] == "application/json"

    def test_it_refuses_an_upload_without_the_xsrf_header(self, sandbox):
        key = create(sandbox).json()["key"]
        response = attach(sandbox, key, headers={})
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


class TestSubTasks:
    def sub_task(self, sandbox, **overrides):
        return create(sandbox, issuetype={"name": "Sub-task"}, **overrides)

    def test_a_sub_task_is_filed_under_its_parent_and_listed_on_it(self, sandbox):
        parent = create(sandbox).json()
        response = self.sub_task(sandbox, parent={"key": parent["key"]}, summary="Deactivate the Salesforce account")
        assert response.status_code == 201
        task = jira(sandbox, "GET", f"/rest/api/3/issue/{response.json()['key']}").json()
        assert task["fields"]["issuetype"]["subtask"] is True
        assert task["fields"]["parent"]["key"] == parent["key"]
        listed = jira(sandbox, "GET", f"/rest/api/3/issue/{parent['key']}").json()["fields"]["subtasks"]
        assert [s["key"] for s in listed] == [task["key"]]
        assert listed[0]["fields"]["status"]["statusCategory"]["key"] == "new"

    def test_a_parent_is_found_by_its_id_too(self, sandbox):
        parent = create(sandbox).json()
        assert self.sub_task(sandbox, parent={"id": parent["id"]}).status_code == 201

    @pytest.mark.parametrize(
        ("parent", "field", "message"),
        [
            (None, "issuetype", "Issue type is a sub-task but parent issue key or id not specified."),
            ("SEC-1", "parent", "data was not an object"),
            ({"key": "SEC-404"}, "parent", "Could not find issue by id or key."),
        ],
    )
    def test_a_sub_task_without_a_parent_it_can_find_is_refused(self, sandbox, parent, field, message):
        create(sandbox)
        response = self.sub_task(sandbox, **({} if parent is None else {"parent": parent}))
        assert response.status_code == 400
        assert response.json()["errors"][field] == message
        assert len(sandbox.jira_issues()) == 1

    def test_neither_a_sub_task_under_a_sub_task_nor_a_task_under_a_task_is_taken(self, sandbox):
        parent = create(sandbox).json()
        task = self.sub_task(sandbox, parent={"key": parent["key"]}).json()
        for refused in (
            self.sub_task(sandbox, parent={"key": task["key"]}),
            create(sandbox, parent={"key": parent["key"]}),
        ):
            assert refused.status_code == 400
            assert (
                refused.json()["errors"]["parent"] == "Given parent work item does not belong to appropriate hierarchy."
            )

    def test_a_project_without_a_sub_task_type_refuses_every_sub_task(self, sandbox):
        sandbox.jira_remove_issue_type("Sub-task")
        parent = create(sandbox).json()
        response = self.sub_task(sandbox, parent={"key": parent["key"]})
        assert response.status_code == 400
        assert response.json()["errors"] == {"issuetype": "Specify a valid issue type"}

    def test_an_issue_is_assigned_to_a_person_of_the_site_only(self, sandbox):
        parent = create(sandbox).json()
        owner = "5b10ac8d82e05b22cc7d4ef5"
        task = self.sub_task(sandbox, parent={"key": parent["key"]}, assignee={"accountId": owner}).json()
        fetched = jira(sandbox, "GET", f"/rest/api/3/issue/{task['key']}").json()
        assert fetched["fields"]["assignee"]["accountId"] == owner
        unknown = self.sub_task(sandbox, parent={"key": parent["key"]}, assignee={"accountId": "nobody-here"})
        assert unknown.status_code == 400
        assert unknown.json()["errors"]["assignee"] == "User 'nobody-here' does not exist."


class TestWorkflow:
    def test_an_issue_moved_along_its_workflow_reads_back_with_its_status_category(self, sandbox):
        key = create(sandbox).json()["key"]
        sandbox.set_jira_status(key, "Won't Do")
        fields = jira(sandbox, "GET", f"/rest/api/3/issue/{key}").json()["fields"]
        assert fields["status"]["name"] == "Won't Do"
        assert fields["status"]["statusCategory"]["key"] == "done"
        assert fields["resolution"] == {"name": "Won't Do"}

    def test_a_search_finds_issues_by_key_and_status(self, sandbox):
        first, second = create(sandbox).json()["key"], create(sandbox).json()["key"]
        sandbox.set_jira_status(second, "Done")
        params = {"jql": f"key in ({first}, {second}) AND status = Done", "fields": "status"}
        found = jira(sandbox, "GET", "/rest/api/3/search/jql", params=params).json()["issues"]
        assert [(i["key"], i["fields"]["status"]["name"]) for i in found] == [(second, "Done")]

    def test_the_control_api_refuses_a_status_the_workflow_lacks(self, sandbox):
        key = create(sandbox).json()["key"]
        response = requests.post(
            f"{sandbox.url}/_sandbox/jira/issues/{key}/status", json={"status": "Shipped"}, timeout=10
        )
        assert response.status_code == 400 and "status is one of" in response.json()["error"]
        missing = requests.post(
            f"{sandbox.url}/_sandbox/jira/issues/SEC-404/status", json={"status": "Done"}, timeout=10
        )
        assert missing.status_code == 404

    def test_a_search_naming_a_key_jira_lacks_fails_naming_it(self, sandbox):
        key = create(sandbox).json()["key"]
        sandbox.delete_jira_issue(key)
        response = jira(sandbox, "GET", "/rest/api/3/search/jql", params={"jql": f"key in ({key}, SEC-77)"})
        assert response.status_code == 400
        assert response.json()["errorMessages"] == [
            f"An issue with key '{key}' does not exist for field 'key'.",
            "An issue with key 'SEC-77' does not exist for field 'key'.",
        ]
        assert create(sandbox).json()["key"] == "SEC-2"  # a deleted issue's key is never given again


def adf_of_length(length):
    """An ADF document whose JSON (as Jira's limit counts it) is exactly `length` characters."""
    empty = len(json.dumps(doc("x"), separators=(",", ":"))) - 1
    return doc("x" * (length - empty))


TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."


class TestTextLimits:
    def test_a_description_at_the_limit_is_taken(self, sandbox):
        assert create(sandbox, description=adf_of_length(32_767)).status_code == 201

    def test_a_description_over_the_limit_is_refused_as_jira_refuses_it(self, sandbox):
        response = create(sandbox, description=adf_of_length(32_768))
        assert response.status_code == 400
        assert response.json() == {"errorMessages": [], "errors": {"description": TOO_LONG}}
        assert sandbox.jira_issues() == []

    def test_v2_counts_the_plain_description(self, sandbox):
        fields = issue_fields(description="x" * 32_768)
        response = jira(sandbox, "POST", "/rest/api/2/issue", json={"fields": fields}, check=False)
        assert response.status_code == 400
        assert response.json()["errors"]["description"] == TOO_LONG

    def test_a_comment_over_the_limit_is_refused(self, sandbox):
        key = create(sandbox).json()["key"]
        response = jira(sandbox, "POST", f"/rest/api/3/issue/{key}/comment", json={"body": adf_of_length(32_768)})
        assert response.status_code == 400
        assert response.json()["errors"]["comment"] == TOO_LONG
        assert sandbox.jira_issues()[0]["comments"] == []

    def test_a_single_line_text_field_takes_255_characters(self, sandbox):
        sandbox.jira_add_field("customfield_10020", "Ticket reference", "string")
        response = create(sandbox, customfield_10020="r" * 256)
        assert response.status_code == 400
        assert "allowed limit of 255 characters" in response.json()["errors"]["customfield_10020"]
        assert create(sandbox, customfield_10020="r" * 255).status_code == 201


class TestRequiredCustomFields:
    @pytest.fixture
    def team(self, sandbox):
        return sandbox.jira_add_field(
            "customfield_10010", "Security Team", "option", ["Security", "IT"], required_for={"SEC": ["Task"]}
        )

    def test_a_create_missing_a_required_field_is_refused_naming_it(self, sandbox, team):
        response = create(sandbox)
        assert response.status_code == 400
        assert response.json() == {"errorMessages": [], "errors": {"customfield_10010": "Security Team is required."}}

    def test_it_is_required_only_for_the_issue_types_configured(self, sandbox, team):
        assert create(sandbox, issuetype={"name": "Bug"}).status_code == 201

    def test_an_option_by_value_or_id_is_taken_and_kept(self, sandbox, team):
        assert create(sandbox, customfield_10010={"value": "Security"}).status_code == 201
        assert create(sandbox, customfield_10010={"id": team["option_ids"][1]}).status_code == 201
        key = sandbox.jira_issues()[0]["key"]
        assert jira(sandbox, "GET", f"/rest/api/3/issue/{key}").json()["fields"]["customfield_10010"] == {
            "value": "Security"
        }

    def test_an_option_the_field_lacks_is_refused(self, sandbox, team):
        response = create(sandbox, customfield_10010={"value": "Marketing"})
        assert response.json()["errors"]["customfield_10010"] == "Option value 'Marketing' is not valid"

    def test_an_unknown_custom_field_is_refused(self, sandbox):
        response = create(sandbox, customfield_10077="x")
        assert "cannot be set" in response.json()["errors"]["customfield_10077"]

    @pytest.mark.parametrize(
        "body",
        [
            {"id": "cf_1", "name": "Team"},
            {"id": "customfield_10010", "name": ""},
            {"id": "customfield_10010", "name": "Team", "type": "cascade"},
            {"id": "customfield_10010", "name": "Team", "type": "option"},
            {"id": "customfield_10010", "name": "Team", "required_for": {"SEC": ["Epic"]}},
        ],
    )
    def test_the_control_api_refuses_a_field_it_cannot_simulate(self, sandbox, body):
        response = requests.post(f"{sandbox.url}/_sandbox/jira/fields", json=body, timeout=10)
        assert response.status_code == 400
        assert sandbox.jira_fields() == []


class TestCreateMetadata:
    def test_it_lists_the_project_s_issue_types_with_the_sub_task_type(self, sandbox):
        body = jira(sandbox, "GET", "/rest/api/3/issue/createmeta/SEC/issuetypes").json()
        assert {t["name"]: t["subtask"] for t in body["issueTypes"]} == {
            "Task": False,
            "Bug": False,
            "Story": False,
            "Sub-task": True,
        }
        assert body["total"] == 4 and body["startAt"] == 0

    def test_it_pages_the_issue_types(self, sandbox):
        body = jira(sandbox, "GET", "/rest/api/3/issue/createmeta/SEC/issuetypes", params={"startAt": 3}).json()
        assert [t["name"] for t in body["issueTypes"]] == ["Sub-task"]

    def test_it_lists_each_create_screen_s_fields_and_which_are_required(self, sandbox):
        sandbox.jira_add_field("customfield_10010", "Security Team", "option", ["Security"], {"SEC": ["Task"]})
        task = jira(sandbox, "GET", "/rest/api/3/issue/createmeta/SEC/issuetypes/10001").json()["fields"]
        required = {f["fieldId"] for f in task if f["required"]}
        assert required == {"summary", "issuetype", "project", "customfield_10010"}
        team = next(f for f in task if f["fieldId"] == "customfield_10010")
        assert [v["value"] for v in team["allowedValues"]] == ["Security"]
        subtask = jira(sandbox, "GET", "/rest/api/3/issue/createmeta/SEC/issuetypes/10004").json()["fields"]
        assert {f["fieldId"] for f in subtask if f["required"]} == {"summary", "issuetype", "project", "parent"}

    def test_an_unknown_project_is_refused(self, sandbox):
        response = jira(sandbox, "GET", "/rest/api/3/issue/createmeta/OPS/issuetypes")
        assert response.status_code == 400
        assert response.json()["errorMessages"] == ["No project could be found with key 'OPS'."]

    def test_more_than_200_a_page_is_refused(self, sandbox):
        # The spec itself forbids the request; Jira answers it with its error collection.
        response = jira(
            sandbox, "GET", "/rest/api/3/issue/createmeta/SEC/issuetypes", params={"maxResults": 201}, check=False
        )
        assert response.status_code == 400
        assert response.json()["errorMessages"] == ["Parameter 'maxResults' must not exceed the limit '200'"]

    def test_an_issue_type_taken_out_of_the_project_is_gone(self, sandbox):
        sandbox.jira_remove_issue_type("Sub-task")
        body = jira(sandbox, "GET", "/rest/api/3/issue/createmeta/SEC/issuetypes").json()
        assert "Sub-task" not in {t["name"] for t in body["issueTypes"]}
        assert jira(sandbox, "GET", "/rest/api/3/issue/createmeta/SEC/issuetypes/10004").status_code == 400
        assert create(sandbox, issuetype={"name": "Sub-task"}).json()["errors"]["issuetype"]


class TestServerProjectFieldsAndMyself:
    def test_server_info_says_cloud(self, sandbox):
        assert jira(sandbox, "GET", "/rest/api/3/serverInfo").json()["deploymentType"] == "Cloud"

    def test_myself_is_the_token_s_account(self, sandbox):
        assert jira(sandbox, "GET", "/rest/api/3/myself").json()["emailAddress"] == sandbox.jira_email
        assert jira(sandbox, "GET", "/rest/api/3/myself", auth=("x@example.com", "nope")).status_code == 401

    def test_the_project_lists_its_issue_types(self, sandbox):
        body = jira(sandbox, "GET", "/rest/api/3/project/SEC").json()
        assert body["key"] == "SEC" and "Sub-task" in {t["name"] for t in body["issueTypes"]}
        assert jira(sandbox, "GET", "/rest/api/3/project/OPS").status_code == 404

    def test_the_field_list_has_the_custom_fields(self, sandbox):
        sandbox.jira_add_field("customfield_10010", "Security Team", "option", ["Security"])
        fields = {f["id"]: f for f in jira(sandbox, "GET", "/rest/api/3/field").json()}
        assert fields["customfield_10010"]["custom"] is True
        assert fields["summary"]["custom"] is False

    def test_v2_shows_texts_as_plain_strings(self, sandbox):
        key = create(sandbox, description=doc("Okta access revoked.")).json()["key"]
        jira(sandbox, "POST", f"/rest/api/2/issue/{key}/comment", json={"body": "Restored."}, check=False)
        body = jira(sandbox, "GET", f"/rest/api/2/issue/{key}", check=False).json()
        assert body["fields"]["description"] == "Okta access revoked."
        assert body["fields"]["comment"]["comments"][0]["body"] == "Restored."
        assert body["self"].endswith(f"/rest/api/2/issue/{body['id']}")


class TestTheBrowsePage:
    """What a person opens from the product's Jira links: the issue, its comments and attachments, as HTML."""

    def test_it_shows_the_issue_its_comments_and_attachments(self, sandbox):
        key = create(sandbox, summary="Offboarding: <Zoë> Müller").json()["key"]
        jira(sandbox, "POST", f"/rest/api/3/issue/{key}/comment", json={"body": doc("Revoked & verified.")})
        attach(sandbox, key, content=b'{"case": 1}')
        page = requests.get(f"{sandbox.jira_url}/browse/{key}", timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "<h1>Offboarding: &lt;Zoë&gt; Müller</h1>" in page.text
        assert "Okta access revoked." in page.text and "Revoked &amp; verified." in page.text
        assert "Comments (1)" in page.text and "evidence.json" in page.text and "Attachments (1)" in page.text

    def test_an_attachment_downloads_from_it(self, sandbox):
        key = create(sandbox).json()["key"]
        attach(sandbox, key, content=b'{"case": 1}')
        page = requests.get(f"{sandbox.jira_url}/browse/{key}", timeout=10).text
        link = page.split('<a href="')[1].split('"')[0]
        download = requests.get(link, timeout=10)
        assert download.content == b'{"case": 1}'
        assert download.headers["Content-Disposition"] == 'attachment; filename="evidence.json"'

    def test_an_unknown_issue_is_a_404_page(self, sandbox):
        page = requests.get(f"{sandbox.jira_url}/browse/SEC-999", timeout=10)
        assert page.status_code == 404 and "No issue SEC-999" in page.text
