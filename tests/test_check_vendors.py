"""`manage.py check_vendors` and /vendors/check/: each vendor is signed in to and read, never written to, and
whatever the product would fail on (a project, an issue type, a sub-task type, a required field, an Okta
permission) is named, with a failing exit code."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from offboarding.models import AuditEvent
from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM


def run_check() -> tuple[int, str]:
    """(exit code, what it printed)."""
    out = StringIO()
    try:
        call_command("check_vendors", stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def vendor_state(sandbox) -> dict:
    return {
        "issues": sandbox.jira_issues(),
        "users": sandbox.call("GET", "okta/users"),
        "groups": sandbox.call("GET", "okta/groups"),
        "terminations": sandbox.terminations(),
        "fields": sandbox.jira_fields(),
    }


def missing_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("MISSING")]


@pytest.fixture
def team_field(org):
    org.jira_add_field(
        "customfield_10010", "Security Team", "option", ["Security", "IT"], required_for={"SEC": ["Task"]}
    )


class TestCheckVendors:
    def test_a_good_configuration_passes_and_changes_nothing_anywhere(self, org, leaver):
        leaver()
        before = vendor_state(org)
        code, output = run_check()
        assert code == 0, output
        assert missing_lines(output) == []
        assert "Every vendor takes what the product will ask of it." in output
        assert vendor_state(org) == before
        assert {r["method"] for r in org.requests()} == {"GET"}
        assert {r["service"] for r in org.requests()} == {"jira", "okta", "workday"}

    def test_it_reads_jira_s_create_metadata(self, org):
        run_check()
        paths = {r["path"] for r in org.requests("jira")}
        assert "/rest/api/3/issue/createmeta/SEC/issuetypes" in paths
        assert "/rest/api/3/issue/createmeta/SEC/issuetypes/10001" in paths  # Task
        assert "/rest/api/3/issue/createmeta/SEC/issuetypes/10004" in paths  # Sub-task

    def test_it_is_one_audit_event(self, org):
        run_check()
        event = AuditEvent.objects.get(action="vendors.checked")
        assert event.actor_name == "system:check_vendors"
        assert event.after["missing"] == 0
        assert {f["vendor"] for f in event.after["findings"]} == {"jira", "okta", "workday"}

    def test_a_missing_project_is_named(self, org, settings):
        settings.JIRA_PROJECT_KEY = "OPS"
        code, output = run_check()
        assert code == 2
        assert "No project could be found with key 'OPS'." in "\n".join(missing_lines(output))

    def test_a_missing_issue_type_is_named(self, org, settings):
        settings.JIRA_ISSUE_TYPE = "Incident"
        code, output = run_check()
        assert code == 2
        (line,) = missing_lines(output)
        assert "no issue type 'Incident'" in line and "Task" in line

    def test_a_missing_sub_task_type_is_named(self, org):
        org.jira_remove_issue_type("Sub-task")
        code, output = run_check()
        assert code == 2
        (line,) = missing_lines(output)
        assert "no sub-task type 'Sub-task'" in line

    def test_a_required_field_the_product_does_not_fill_is_named(self, org, team_field):
        code, output = run_check()
        assert code == 2
        (line,) = missing_lines(output)
        assert "'Security Team' (customfield_10010)" in line and "JIRA_EXTRA_FIELDS" in line

    def test_jira_extra_fields_cover_a_required_field(self, org, team_field, settings):
        settings.JIRA_EXTRA_FIELDS = {"customfield_10010": {"value": "Security"}}
        code, output = run_check()
        assert code == 0, output

    def test_an_extra_field_value_jira_would_refuse_is_named(self, org, team_field, settings):
        settings.JIRA_EXTRA_FIELDS = {"customfield_10010": {"value": "Marketing"}, "customfield_10099": "x"}
        code, output = run_check()
        assert code == 2
        text = "\n".join(missing_lines(output))
        assert "customfield_10010 a value its allowed values lack" in text
        assert "customfield_10099, which the Task create screen lacks" in text

    def test_jira_credentials_it_cannot_sign_in_with_are_named(self, org, settings):
        settings.JIRA_API_TOKEN = "not-the-token"
        code, output = run_check()
        assert code == 2
        (line,) = missing_lines(output)
        assert "jira" in line and "sign-in" in line and "not authenticated" in line

    def test_an_okta_token_lacking_a_permission_is_named(self, org, leaver, settings):
        leaver()
        settings.OKTA_CLIENT_ID = SERVICE_APP_CLIENT_ID
        settings.OKTA_PRIVATE_KEY = SERVICE_APP_PRIVATE_KEY_PEM
        settings.OKTA_SCOPES = ["okta.users.manage"]
        before = vendor_state(org)
        code, output = run_check()
        assert code == 2
        text = "\n".join(missing_lines(output))
        assert "OKTA_SCOPES lacks okta.groups.manage" in text
        assert "groups (read)" in text and "E0000006" in text
        assert vendor_state(org) == before
        # Only reads, and the token request that signs in.
        assert {(r["method"], r["path"]) for r in org.requests("okta") if r["method"] != "GET"} == {
            ("POST", "/oauth2/v1/token")
        }


class TestVendorsPage:
    def test_an_approver_runs_the_check_and_sees_what_is_missing(self, org, approver, settings):
        settings.JIRA_ISSUE_TYPE = "Incident"
        client = Client()
        client.force_login(approver)
        assert "not been checked yet" in client.get(reverse("vendors_check")).content.decode()
        response = client.post(reverse("vendors_check_run"), follow=True)
        page = response.content.decode()
        assert "1 missing" in page
        assert "no issue type &#x27;Incident&#x27;" in page or "no issue type 'Incident'" in page
        event = AuditEvent.objects.get(action="vendors.checked")
        assert event.actor_name == approver.get_username()

    @pytest.mark.parametrize("name", ["vendors_check", "vendors_check_run"])
    def test_auditors_are_refused(self, org, auditor, name):
        client = Client()
        client.force_login(auditor)
        assert client.get(reverse(name)).status_code == 403
        assert client.post(reverse(name)).status_code == 403
        assert not AuditEvent.objects.filter(action="vendors.checked").exists()
