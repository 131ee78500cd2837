"""The control API, seeding and the demo company, and the spec checker the other tests rely on."""

import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.utils import parsedate_to_datetime

import pytest
import requests

from sandbox.control import SandboxControlError
from sandbox.org import DEMO_FAILURES
from sandbox.state import OKTA_RATE_LIMIT_DEFAULTS
from tests.openapi_specs import validate_jira, validate_okta
from tests.processes import wait_for


def okta_search(sandbox, search):
    return requests.get(
        f"{sandbox.okta_url}/api/v1/users",
        params={"search": search},
        headers={"Authorization": f"SSWS {sandbox.okta_token}"},
        timeout=10,
    ).json()


def report(sandbox):
    response = requests.get(
        sandbox.workday_report_url,
        params={"format": "json"},
        auth=(sandbox.workday_user, sandbox.workday_password),
        timeout=10,
    )
    return {row["Employee_ID"]: row for row in response.json()["Report_Entry"]}


def world(sandbox):
    users = sorted(sandbox.okta_users(), key=lambda u: u["id"])
    return (
        [(u["id"], u["status"], u["profile"], [g["id"] for g in sandbox.okta_user(u["id"])["groups"]]) for u in users],
        sorted((g["id"], g["profile"]["name"], g["type"]) for g in sandbox.okta_groups()),
        sandbox.terminations(),
    )


class TestSeeding:
    def test_the_same_seed_gives_the_same_org(self, sandbox):
        sandbox.reset(seed=42, workers=12)
        first = world(sandbox)
        sandbox.reset(seed=7, workers=12)
        assert world(sandbox) != first
        sandbox.reset(seed=42, workers=12)
        assert world(sandbox) == first

    def test_ids_look_like_okta_ids(self, sandbox):
        users, groups, _ = world(sandbox)
        assert all(uid.startswith("00u") and len(uid) == 20 for uid, *_ in users)
        assert all(gid.startswith("00g") and len(gid) == 20 for gid, *_ in groups)

    @pytest.mark.sandbox(workers=15, groups_per_person=8, pending_terminations=5)
    def test_the_options_shape_the_org(self, sandbox):
        assert len(sandbox.okta_users()) == 15 and len(sandbox.terminations()) == 5
        assert all(len(sandbox.okta_user(u["id"])["groups"]) == 8 for u in sandbox.okta_users())

    def test_every_worker_has_an_okta_account_matched_by_employee_number(self, sandbox):
        for worker in sandbox.workers():
            found = okta_search(sandbox, f'profile.employeeNumber eq "{worker["employee_id"]}"')
            assert [u["profile"]["email"] for u in found] == [worker["email"]]

    def test_it_refuses_unknown_options(self, sandbox):
        with pytest.raises(SandboxControlError, match="400"):
            sandbox.reset(colour="blue")
        with pytest.raises(SandboxControlError, match="400"):
            sandbox.reset(rate_limits={"/api/v2/everything": 5})


@pytest.mark.sandbox(demo=True, workers=30)
class TestDemoCompany:
    @pytest.fixture
    def demo(self, sandbox):
        return sandbox

    def test_it_has_a_protected_break_glass_admin(self, demo):
        state = demo.okta_user("breakglass-admin@acme.example")
        assert "Okta Super Admins" in [g["name"] for g in state["groups"]]
        assert state["status"] == "ACTIVE"

    def test_it_has_realistic_groups_of_every_type(self, demo):
        groups = {g["profile"]["name"]: g["type"] for g in demo.okta_groups()}
        assert groups["Everyone"] == "BUILT_IN"
        assert groups["AD: Sales (imported)"] == "APP_GROUP"
        for name in ("Engineering", "eng-github-admins", "Finance - NetSuite Users", "VPN Users"):
            assert groups[name] == "OKTA_GROUP"

    def test_it_has_pending_terminations_of_every_kind(self, demo):
        rows = report(demo)
        assert rows["20002"]["Termination_Category"] == "Involuntary"
        assert rows["20005"]["Worker_Type"] == "Contingent Worker"
        assert okta_search(demo, 'profile.employeeNumber eq "20006"') == []  # no Okta account
        mismatch = okta_search(demo, 'profile.employeeNumber eq "20007"')[0]["profile"]
        assert (mismatch["firstName"], rows["20007"]["First_Name"]) == ("John", "Jonathan")
        assert okta_search(demo, 'profile.employeeNumber eq "20008"')[0]["status"] == "DEPROVISIONED"

    def test_several_okta_users_share_one_employee_number(self, demo):
        logins = sorted(u["profile"]["login"] for u in okta_search(demo, 'profile.employeeNumber eq "20009"'))
        assert logins == ["priya.raman-admin@acme.example", "priya.raman@acme.example"]

    def test_a_rescind_arrives_after_the_first_read(self, demo):
        assert report(demo)["20003"]["Is_Rescinded"] == "0"
        assert report(demo)["20003"]["Is_Rescinded"] == "1"

    def test_the_deactivation_of_one_leaver_fails_as_often_as_the_product_tries_once(self, demo, settings):
        user = demo.okta_user("omar.haddad@acme.example")["user"]
        url = f"{demo.okta_url}/api/v1/users/{user['id']}/lifecycle/deactivate"
        headers = {"Authorization": f"SSWS {demo.okta_token}"}
        answers = [requests.post(url, headers=headers, timeout=10).status_code for _ in range(DEMO_FAILURES + 1)]
        assert DEMO_FAILURES == settings.CLIENT_MAX_ATTEMPTS
        assert answers == [503] * DEMO_FAILURES + [200]

    def test_a_correction_arrives_after_the_first_read(self, demo):
        first = report(demo)["20004"]["Termination_Date"]
        second = report(demo)["20004"]["Termination_Date"]
        assert second < first


class TestControlState:
    def test_it_adds_users_and_groups_and_reads_user_state(self, sandbox):
        group = sandbox.add_okta_group("Finance - NetSuite Users", description="NetSuite")
        user = sandbox.add_okta_user(
            "31337", "Ada", "Lovelace", login="ada@acme.example", groups=[group["id"]], department="Finance"
        )
        state = sandbox.okta_user(user["id"])
        assert state["user"]["profile"]["department"] == "Finance"
        assert state["user"]["profile"]["employeeNumber"] == "31337"
        assert [g["name"] for g in state["groups"]] == ["Everyone", "Finance - NetSuite Users"]
        assert state["sessions_revoked"] is False and state["oauth_tokens_revoked"] is False

    def test_it_adds_several_groups_in_one_call(self, sandbox):
        made = sandbox.add_okta_groups([{"name": "VPN Users"}, {"name": "AD: Sales", "type": "APP_GROUP"}])
        assert [(g["profile"]["name"], g["type"]) for g in made] == [
            ("VPN Users", "OKTA_GROUP"),
            ("AD: Sales", "APP_GROUP"),
        ]
        listed = {g["id"]: g["profile"]["name"] for g in sandbox.okta_groups()}
        assert {listed[g["id"]] for g in made} == {"VPN Users", "AD: Sales"}
        with pytest.raises(SandboxControlError, match="400"):
            sandbox.add_okta_groups([{"name": "Fine"}, {"name": "Odd", "colour": "blue"}])
        with pytest.raises(SandboxControlError, match="400"):
            sandbox.call("POST", "workday/terminations", json=[{"employee_id": "E1"}])

    def test_it_refuses_a_duplicate_login(self, sandbox):
        sandbox.add_okta_user("1", "Ada", "Lovelace", login="ada@acme.example")
        with pytest.raises(SandboxControlError, match="400"):
            sandbox.add_okta_user("2", "Ada", "Lovelace", login="ada@acme.example")

    def test_it_answers_404_for_an_unknown_user_or_termination(self, sandbox):
        with pytest.raises(SandboxControlError, match="404"):
            sandbox.okta_user("00uNOBODY")
        with pytest.raises(SandboxControlError, match="404"):
            sandbox.rescind_termination("00000")


class TestRequestLog:
    def test_it_logs_vendor_requests_but_not_control_calls(self, sandbox):
        requests.get(f"{sandbox.okta_url}/api/v1/users?limit=2", headers={"Authorization": "SSWS nope"}, timeout=10)
        requests.get(f"{sandbox.jira_url}/rest/api/3/issue/SEC-1", timeout=10)
        sandbox.config()
        log = sandbox.requests()
        assert [(r["service"], r["method"], r["path"], r["query"], r["status"]) for r in log] == [
            ("okta", "GET", "/api/v1/users", "limit=2", 401),
            ("jira", "GET", "/rest/api/3/issue/SEC-1", "", 401),
        ]
        assert all(r["time"] and r["duration"] >= 0 for r in log)
        assert [r["service"] for r in sandbox.requests("jira")] == ["jira"]
        sandbox.clear_requests()
        assert sandbox.requests() == []

    def test_it_counts_the_requests_in_flight_as_each_arrives(self, sandbox):
        issue = f"{sandbox.jira_url}/rest/api/3/issue/SEC-1"
        sandbox.fault("jira", "timeout", seconds=30)  # holds each request until the fault is cleared

        def held(_):
            with contextlib.suppress(requests.ConnectionError):  # dropped when the fault goes
                requests.get(issue, timeout=10)

        with ThreadPoolExecutor(max_workers=3) as pool:
            for n in range(3):
                pool.submit(held, n)
            wait_for(lambda: sandbox.faults()[0]["hits"] == 3, 10, "three requests held", every=0.01)
            sandbox.clear_faults()
        requests.get(issue, timeout=10)
        assert sorted(r["in_flight"] for r in sandbox.requests("jira")) == [1, 1, 2, 3]

    def test_a_reset_switches_faults_off_and_can_empty_the_log_in_the_same_call(self, sandbox):
        sandbox.fault("jira", "error", status=502)
        requests.get(f"{sandbox.jira_url}/rest/api/3/issue/SEC-1", timeout=10)
        sandbox.reset()
        assert sandbox.faults() == []
        assert [r["status"] for r in sandbox.requests()] == [502]  # a plain reset keeps the log
        sandbox.fault("jira", "error", status=502)
        sandbox.reset(clear_requests=True)
        assert sandbox.faults() == [] and sandbox.requests() == []
        assert requests.get(f"{sandbox.jira_url}/rest/api/3/issue/SEC-1", timeout=10).status_code == 401
        assert "clear_requests" not in sandbox.config()  # not an option of the world

    @pytest.mark.sandbox(rate_limits=dict.fromkeys(OKTA_RATE_LIMIT_DEFAULTS, 1), concurrency_limit=1)
    def test_the_control_api_is_not_rate_limited(self, sandbox):
        for _ in range(2):
            okta_search(sandbox, 'status eq "ACTIVE"')
        assert sandbox.requests("okta")[-1]["status"] == 429  # Okta's limit of one call is spent
        assert [sandbox.config()["concurrency_limit"] for _ in range(5)] == [1] * 5


class TestClock:
    def test_moving_it_on_moves_the_date_and_the_log_with_it(self, sandbox):
        def answered_at():
            response = requests.get(f"{sandbox.jira_url}/rest/api/3/issue/SEC-1", timeout=10)
            return parsedate_to_datetime(response.headers["Date"]).timestamp()

        before = answered_at()
        assert sandbox.advance_clock(3600)["clock_offset"] == 3600
        assert 3600 <= answered_at() - before <= 3602
        logged = datetime.fromisoformat(sandbox.requests()[-1]["time"]).timestamp()
        assert 3600 <= logged - before <= 3603
        assert sandbox.config()["clock_offset"] == 3600

    def test_a_reset_puts_it_back_and_it_never_goes_back(self, sandbox):
        sandbox.advance_clock(60)
        sandbox.reset()
        assert sandbox.config()["clock_offset"] == 0
        for wrong in (-1, "soon", None):
            with pytest.raises(SandboxControlError, match="400"):
                sandbox.advance_clock(wrong)
        assert sandbox.config()["clock_offset"] == 0


class TestSpecChecker:
    """The validator must fail on what the vendors' specs do not allow, or every other check is hollow."""

    def test_it_rejects_a_response_the_spec_does_not_allow(self):
        with pytest.raises(AssertionError, match="does not allow this response"):
            validate_okta(
                "GET",
                "http://sandbox/okta/api/v1/users/00u1/groups",
                {"Authorization": "SSWS x"},
                None,
                200,
                {"Content-Type": "application/json"},
                [{"id": "00g1", "type": "NOT_A_TYPE", "profile": {"name": "x", "description": None}}],
            )

    def test_it_rejects_a_status_the_operation_does_not_list(self):
        with pytest.raises(AssertionError, match="does not allow this response"):
            validate_okta(
                "DELETE",
                "http://sandbox/okta/api/v1/groups/00g1/users/00u1",
                {"Authorization": "SSWS x"},
                None,
                418,
                {},
                b"",
            )

    def test_it_rejects_a_request_the_spec_does_not_allow(self):
        with pytest.raises(AssertionError, match="(?s)does not allow this request.*visibility"):
            validate_jira(
                "POST",
                "http://sandbox/jira/rest/api/3/issue/SEC-1/comment",
                {"Content-Type": "application/json", "Authorization": "Basic eDp5"},
                b'{"body": "not a document", "visibility": "everyone"}',
            )

    def test_it_rejects_an_unknown_operation(self):
        with pytest.raises(AssertionError, match="does not allow this request"):
            validate_okta("GET", "http://sandbox/okta/api/v1/no-such-thing", {"Authorization": "SSWS x"})

    def test_it_accepts_a_valid_exchange(self):
        validate_okta(
            "GET",
            "http://sandbox/okta/api/v1/users?search=profile.employeeNumber+eq+%221%22",
            {"Authorization": "SSWS x"},
            None,
            200,
            {"Content-Type": "application/json"},
            b"[]",
        )


class TestDirectoryImport:
    def deactivated(self, sandbox, login, provider):
        user = sandbox.add_okta_user(None, "Ada", login, login=f"{login}@acme.example", provider=provider)
        requests.post(
            f"{sandbox.okta_url}/api/v1/users/{user['id']}/lifecycle/deactivate",
            headers={"Authorization": f"SSWS {sandbox.okta_token}"},
            timeout=10,
        ).raise_for_status()
        return user["id"]

    def test_an_import_reactivates_the_deactivated_users_its_directory_masters(self, sandbox):
        ad = self.deactivated(sandbox, "ad", {"type": "ACTIVE_DIRECTORY", "name": "acme.example"})
        ldap = self.deactivated(sandbox, "ldap", {"type": "LDAP", "name": "ldap.acme.example"})
        okta = self.deactivated(sandbox, "okta", None)
        assert sandbox.directory_import("ACTIVE_DIRECTORY") == [ad]
        assert sandbox.directory_import() == [ldap]
        statuses = {uid: sandbox.okta_user(uid)["status"] for uid in (ad, ldap, okta)}
        assert statuses == {ad: "ACTIVE", ldap: "ACTIVE", okta: "DEPROVISIONED"}

    def test_it_refuses_what_is_no_directory(self, sandbox):
        okta = self.deactivated(sandbox, "okta", None)
        with pytest.raises(SandboxControlError, match="400"):
            sandbox.directory_import("OKTA")
        with pytest.raises(SandboxControlError, match="400.*not by a directory"):
            sandbox.set_directory_account(okta, enabled=False)
        with pytest.raises(SandboxControlError, match="400"):
            sandbox.call("POST", f"okta/users/{okta}/directory_account", json={"enabled": "no"})
        with pytest.raises(SandboxControlError, match="404"):
            sandbox.set_directory_account("00uNOBODY", enabled=False)
