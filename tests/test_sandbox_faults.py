"""Faults switched on at run time through the control API."""

import threading
import time

import pytest
import requests

from sandbox.control import SandboxControlError
from tests.openapi_specs import check_okta
from tests.processes import wait_for


def okta_get(sandbox, path="/api/v1/users", **kwargs):
    return okta_call(sandbox, "GET", path, **kwargs)


def okta_call(sandbox, method, path, **kwargs):
    return requests.request(
        method,
        sandbox.okta_url + path,
        headers={"Authorization": f"SSWS {sandbox.okta_token}"},
        **{"timeout": 10, **kwargs},
    )


def jira_get(sandbox, path="/rest/api/3/issue/SEC-1"):
    return requests.get(sandbox.jira_url + path, auth=(sandbox.jira_email, sandbox.jira_token), timeout=10)


def workday_get(sandbox):
    return requests.get(
        sandbox.workday_report_url,
        params={"format": "json"},
        auth=(sandbox.workday_user, sandbox.workday_password),
        timeout=10,
    )


class TestLatency:
    def test_it_delays_only_the_matching_endpoint(self, sandbox):
        sandbox.fault("okta", "latency", "GET /api/v1/users/*/groups", seconds=0.3)
        user_id = okta_get(sandbox).json()[0]["id"]
        started = time.monotonic()
        assert okta_get(sandbox, f"/api/v1/users/{user_id}/groups").status_code == 200
        assert time.monotonic() - started >= 0.27
        durations = [r["duration"] for r in sandbox.requests("okta") if r["path"].endswith("/groups")]
        assert durations[0] >= 0.27


class TestErrors:
    def test_it_answers_the_chosen_status_count_times_then_recovers(self, sandbox):
        sandbox.fault("jira", "error", status=502, count=2)
        assert [jira_get(sandbox).status_code for _ in range(3)] == [502, 502, 404]
        assert sandbox.faults() == []

    def test_okta_500s_are_okta_errors_with_headers(self, sandbox):
        sandbox.fault("okta", "error", "GET /api/v1/users", status=500)
        response = okta_get(sandbox)
        assert response.status_code == 500
        assert response.json()["errorCode"] == "E0000009"
        assert response.headers["X-Okta-Request-Id"] and response.headers["X-Rate-Limit-Remaining"]

    def test_after_lets_the_first_matching_requests_through_and_fails_the_next(self, sandbox):
        groups = [sandbox.add_okta_group(f"Team {n}")["id"] for n in range(4)]
        user = sandbox.add_okta_user("E7001", "Nth", "Request", groups=groups)
        sandbox.fault("okta", "error", "DELETE /api/v1/groups/*/users/*", status=503, after=2, count=1)
        assert okta_get(sandbox, f"/api/v1/users/{user['id']}").status_code == 200  # not a matching request
        statuses = [okta_call(sandbox, "DELETE", f"/api/v1/groups/{g}/users/{user['id']}").status_code for g in groups]
        assert statuses == [204, 204, 503, 204]
        assert sandbox.faults() == []  # its one hit spent, it is gone
        left = [g["id"] for g in sandbox.okta_user(user["id"])["groups"]]
        assert groups[2] in left and not {groups[0], groups[1], groups[3]} & set(left)

    def test_after_counts_down_while_it_lets_requests_through(self, sandbox):
        sandbox.fault("jira", "error", status=502, after=3)
        assert [jira_get(sandbox).status_code for _ in range(2)] == [404, 404]
        assert [(f["after"], f["hits"]) for f in sandbox.faults()] == [(1, 0)]
        assert [jira_get(sandbox).status_code for _ in range(3)] == [404, 502, 502]
        assert [(f["after"], f["hits"]) for f in sandbox.faults()] == [(0, 2)]

    def test_a_share_of_requests_fails(self, sandbox):
        sandbox.fault("okta", "error", status=503, rate=0.5)
        statuses = [okta_get(sandbox).status_code for _ in range(40)]
        assert 5 <= statuses.count(503) <= 35 and statuses.count(200) + statuses.count(503) == 40


class TestTimeout:
    def test_the_client_times_out_while_other_requests_are_served(self, sandbox):
        sandbox.fault("okta", "timeout", "GET /api/v1/users", seconds=30)
        outcome = {}

        def held():
            started = time.monotonic()
            try:
                okta_get(sandbox, timeout=(5, 0.5))
            except requests.exceptions.ReadTimeout:
                outcome["timed_out_after"] = time.monotonic() - started

        thread = threading.Thread(target=held)
        thread.start()
        wait_for(lambda: sandbox.faults()[0]["hits"], 10, "the request to be held", every=0.01)
        assert jira_get(sandbox).status_code == 404  # another thread answers meanwhile
        thread.join(10)
        assert outcome["timed_out_after"] >= 0.5  # the client's own read timeout: no answer came
        sandbox.clear_faults()
        assert okta_get(sandbox).status_code == 200

    def test_clearing_the_fault_drops_the_held_connection(self, sandbox):
        sandbox.fault("okta", "timeout", seconds=60)
        errors = []

        def held():
            try:
                okta_get(sandbox, timeout=(5, 30))
            except requests.exceptions.ConnectionError as error:
                errors.append(error)

        thread = threading.Thread(target=held)
        thread.start()
        wait_for(lambda: sandbox.faults()[0]["hits"], 10, "the request to be held", every=0.01)
        sandbox.clear_faults()
        thread.join(10)
        assert not thread.is_alive() and errors


class TestRateLimitStorm:
    def test_jira_answers_429_with_retry_after(self, sandbox):
        sandbox.fault("jira", "rate_limit", count=2, retry_after=3)
        first = jira_get(sandbox)
        assert first.status_code == 429 and first.headers["Retry-After"] == "3"
        assert first.json()["errorMessages"]
        assert jira_get(sandbox).status_code == 429
        assert jira_get(sandbox).status_code == 404

    def test_okta_answers_e0000047_with_rate_limit_headers(self, sandbox):
        sandbox.fault("okta", "rate_limit", count=1)
        response = check_okta(okta_get(sandbox))
        assert response.status_code == 429 and response.json()["errorCode"] == "E0000047"
        assert int(response.headers["X-Rate-Limit-Reset"]) >= int(time.time())


class TestOutage:
    def test_the_connection_is_dropped_without_an_answer(self, sandbox):
        sandbox.fault("workday", "outage")
        with pytest.raises(requests.exceptions.ConnectionError):
            workday_get(sandbox)
        assert sandbox.requests("workday")[-1]["status"] == 0
        sandbox.clear_faults("workday")
        assert workday_get(sandbox).status_code == 200

    def test_an_outage_of_one_service_leaves_the_others_up(self, sandbox):
        sandbox.fault("okta", "outage")
        assert jira_get(sandbox).status_code == 404
        assert workday_get(sandbox).status_code == 200


class TestBrokenWorkdayBodies:
    def test_malformed_answers_200_with_a_body_that_is_not_json(self, sandbox):
        sandbox.fault("workday", "malformed", count=1)
        response = workday_get(sandbox)
        assert response.status_code == 200
        with pytest.raises(ValueError):
            response.json()

    def test_malformed_can_send_the_wrong_shape(self, sandbox):
        sandbox.fault("workday", "malformed", body='{"Report_Data": {"Report_Entry": "none"}}')
        assert workday_get(sandbox).json() == {"Report_Data": {"Report_Entry": "none"}}

    def test_truncated_answers_half_the_report(self, sandbox):
        whole = workday_get(sandbox).content
        sandbox.fault("workday", "truncated", count=1)
        cut = workday_get(sandbox)
        assert cut.status_code == 200 and 0 < len(cut.content) < len(whole)
        assert whole.startswith(cut.content)
        with pytest.raises(ValueError):
            cut.json()

    def test_cut_off_closes_the_connection_halfway_through_a_body_announced_whole(self, sandbox):
        sandbox.fault("workday", "cut_off", count=1)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            workday_get(sandbox)


class TestFaultControl:
    def test_faults_are_listed_and_cleared_per_service(self, sandbox):
        sandbox.fault("okta", "latency", seconds=0.1)
        sandbox.fault("jira", "error")
        assert {f["service"] for f in sandbox.faults()} == {"okta", "jira"}
        sandbox.clear_faults("jira")
        assert [f["service"] for f in sandbox.faults()] == ["okta"]

    @pytest.mark.parametrize(
        ("service", "kind", "params"),
        [
            ("ldap", "error", {}),
            ("okta", "meltdown", {}),
            ("okta", "error", {"rate": 2}),
            ("okta", "error", {"status": 404}),
            ("okta", "error", {"after": -1}),
            ("okta", "error", {"after": "2"}),
        ],
    )
    def test_it_refuses_what_it_cannot_do(self, sandbox, service, kind, params):
        with pytest.raises(SandboxControlError, match="400"):
            sandbox.fault(service, kind, **params)
