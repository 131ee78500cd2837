"""The fault matrix: every step of the revocation × every fault, against the sandbox over HTTP.

Each cell runs one real case. The fault is switched on when the revocation reaches the step and
off when it moves past it, so it hits that step alone. A fault the clients ride out ends the
case `completed`; one that outlasts the retry budget ends it `failed`, naming the fault, and a
retry after recovery completes it without repeating anything already done. Whatever happens,
every Okta change is made exactly once, one ticket is filed, and the audit chain verifies.

The expected outcomes below are the table in README.md ("Resilience"); the run prints what it saw
(tests/fault_matrix_report.py).
"""

from __future__ import annotations

import re
import socket
from collections import defaultdict
from datetime import datetime, timedelta

import pytest
import requests
from django.utils import timezone

from offboarding import decisions, revocation, sync, tickets
from offboarding.clients.jira import JiraClient
from offboarding.clients.okta import OktaClient
from offboarding.models import Actor, AuditEvent, Case, Step
from tests.fault_matrix_report import MATRIX, expect, render_table
from tests.wrapped_clients import Wrapped

# step -> (service, endpoint, the Step kind it belongs to)
STEPS = {
    "group listing": ("okta", "GET /api/v1/users/*/groups", Step.Kind.SNAPSHOT),
    "each removal": ("okta", "DELETE /api/v1/groups/*/users/*", Step.Kind.REMOVE_GROUP),
    "session clearing": ("okta", "DELETE /api/v1/users/*/sessions", Step.Kind.CLEAR_SESSIONS),
    "deactivation": ("okta", "POST /api/v1/users/*/lifecycle/deactivate", Step.Kind.DEACTIVATE),
    "verification read-back": ("okta", "GET /api/v1/users/*", Step.Kind.VERIFY),
    "ticket": ("jira", "POST /rest/api/3/issue", Step.Kind.FILE_TICKET),
}

READ_TIMEOUT = 1.0
# fault -> sandbox fault parameters; "refused" is made at the socket (see Refuser).
FAULTS = {
    "timeout": {"kind": "timeout", "seconds": 10, "count": 1},
    "refused": {"kind": "refused", "count": 2},
    "dropped": {"kind": "outage", "count": 1},
    "500": {"kind": "error", "status": 500, "count": 2},
    "503": {"kind": "error", "status": 503, "count": 2},
    "429 storm": {"kind": "rate_limit", "count": 2, "retry_after": 0},
    "slow (near timeout)": {"kind": "latency", "seconds": READ_TIMEOUT * 0.6, "count": 1},
    "outage > retry budget": {"kind": "outage"},
    # 2xx with a body of the wrong shape (a list of objects without ids).
    "malformed answer": {"kind": "malformed", "count": 1, "body": '[{"unexpected": true}]'},
}

DONE = "completed"
RETRIED = "failed → retry → completed"
TICKET_LATER = "completed; ticket pending → filed once"

# What each cell must show. Okta calls are retried on every transient fault (reads and removals are
# idempotent; a repeated deactivation is answered 404 and read back), so Okta steps recover; the
# ticket is never re-created blindly after an answer that may have been lost (timeout, dropped, 5xx):
# it waits for the schedule, which looks it up by label before filing.
EXPECTED = {
    step: {fault: DONE for fault in FAULTS} | {"outage > retry budget": RETRIED} for step in STEPS if step != "ticket"
}
# A wrong-shaped answer to a read is not retried blindly: the step fails, naming it; a change answered
# 2xx took effect whatever its body says.
EXPECTED["group listing"]["malformed answer"] = RETRIED
EXPECTED["verification read-back"]["malformed answer"] = RETRIED
EXPECTED["ticket"] = {
    "timeout": TICKET_LATER,
    "refused": DONE,
    "dropped": TICKET_LATER,
    "500": TICKET_LATER,
    "503": TICKET_LATER,
    "429 storm": DONE,
    "slow (near timeout)": DONE,
    "outage > retry budget": TICKET_LATER,
    # Jira did create it: the schedule finds it by its label instead of filing a second.
    "malformed answer": TICKET_LATER,
}
expect(list(STEPS), list(FAULTS), EXPECTED)
# How the failure is named on the case (failure_summary), for the cells that fail first.
NAMED = {"outage > retry budget": "connection failed", "malformed answer": "expected a JSON"}


class Refuser:
    """Connection refused for real: matching requests are sent to a port nobody listens on."""

    def __init__(self, monkeypatch) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.dead = f"http://127.0.0.1:{s.getsockname()[1]}"
        self.pattern: re.Pattern | None = None
        self.method = ""
        self.left = 0
        real_send = requests.adapters.HTTPAdapter.send

        def send(adapter, request, *args, **kwargs):
            path = requests.utils.urlparse(request.url).path
            if self.left and request.method == self.method and self.pattern and self.pattern.fullmatch(path):
                self.left -= 1
                request.url = self.dead + path
            return real_send(adapter, request, *args, **kwargs)

        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)

    def arm(self, service: str, endpoint: str, count: int) -> None:
        method, _, pattern = endpoint.partition(" ")
        self.method = method
        self.pattern = re.compile(
            f"/{service}" + "".join("[^/]+" if p == "*" else re.escape(p) for p in re.split(r"(\*)", pattern))
        )
        self.left = count

    def disarm(self) -> None:
        self.left = 0


# Smaller than the other tests' org, with a one-second rate-limit window (so a 429 is followed by a
# reset within the second).
pytestmark = pytest.mark.sandbox(workers=1, rate_limit_window=1)


@pytest.fixture
def org(org, settings):
    """As tests/conftest.py's, with a short read timeout."""
    settings.CLIENT_READ_TIMEOUT = READ_TIMEOUT
    return org


@pytest.fixture
def matrix_org(org):
    return org


@pytest.fixture
def due_case(matrix_org, leaver, approver):
    def make() -> Case:
        person = leaver(days_ahead=-1)
        sync.sync_workday()
        case = Case.objects.get(termination__employee_id=person["employee_id"])
        return decisions.approve(case.pk, approver, "HR confirmed")

    return make


# step -> the client call that starts it (service, method, which call of it), and the methods it makes.
STEP_CALLS = {
    Step.Kind.SNAPSHOT: (("okta", "list_user_groups", 1), {"list_user_groups"}),
    Step.Kind.REMOVE_GROUP: (("okta", "remove_from_group", 1), {"remove_from_group"}),
    Step.Kind.CLEAR_SESSIONS: (("okta", "clear_sessions", 1), {"clear_sessions"}),
    Step.Kind.DEACTIVATE: (("okta", "deactivate", 1), {"deactivate"}),
    Step.Kind.VERIFY: (("okta", "get_user", 2), {"get_user", "list_user_groups"}),
    Step.Kind.FILE_TICKET: (("jira", "find_issues_by_label", 1), {"find_issues_by_label", "create_issue"}),
}


def run_with_fault(sandbox, monkeypatch, case: Case, step: str, fault: str) -> None:
    """Run the case, with the fault switched on for exactly the step's duration.

    The worker's clients tell when the step's first call starts and when a call of another step does.
    """
    service, endpoint, kind = STEPS[step]
    params = dict(FAULTS[fault])
    refuser = Refuser(monkeypatch) if params["kind"] == "refused" else None
    (start, methods), armed = STEP_CALLS[kind], {"on": False, "over": False}

    def arm():
        if refuser:
            refuser.arm(service, endpoint, params["count"])
        else:
            sandbox.fault(service, params.pop("kind"), endpoint, **params)
        armed["on"] = True

    def disarm():
        if refuser:
            refuser.disarm()
        sandbox.clear_faults()
        armed["on"], armed["over"] = False, True

    def watch(client_service: str):
        def on_call(method: str, n: int) -> None:
            if (client_service, method, n) == start and not armed["over"]:
                arm()
            elif armed["on"] and (client_service != start[0] or method not in methods):
                disarm()

        return on_call

    okta = Wrapped(OktaClient.from_settings(), on_call=watch("okta"))
    jira = Wrapped(JiraClient.from_settings(), on_call=watch("jira"))
    try:
        revocation.run_case(case.pk, okta=okta, jira=jira)
    finally:
        disarm()


def okta_changes(sandbox) -> dict[str, list[int]]:
    """Each Okta change request (method and path) with the statuses it was answered, in order."""
    changes: dict[str, list[int]] = defaultdict(list)
    # The log is in the order the answers ended (a held request ends last): order by start instead.
    started = sorted(
        sandbox.requests("okta"), key=lambda r: datetime.fromisoformat(r["time"]).timestamp() - r["duration"]
    )
    for r in started:
        if r["method"] != "GET" and not r["path"].startswith("/oauth2"):
            changes[f"{r['method']} {r['path']}"].append(r["status"])
    return changes


@pytest.mark.slow
class TestFaultMatrix:
    @pytest.mark.parametrize("fault", list(FAULTS))
    @pytest.mark.parametrize("step", list(STEPS))
    def test_the_case_ends_as_expected_with_each_change_made_once(
        self, matrix_org, due_case, monkeypatch, settings, step, fault
    ):
        sandbox = matrix_org
        case = due_case()
        sandbox.clear_requests()
        run_with_fault(sandbox, monkeypatch, case, step, fault)
        # The fault is over: the recovery waits as long as the other tests' clients do, so a slow answer of a
        # loaded machine is not taken for the fault coming back.
        settings.CLIENT_READ_TIMEOUT = 5.0
        case.refresh_from_db()
        first = case.state
        notes = []

        if first == Case.State.FAILED:
            # The fault is named on the case and on the step, with what the vendor said.
            failed = list(case.steps.filter(status=Step.Status.FAILED))
            assert failed, "a failed case names its failed steps"
            assert NAMED[fault] in case.failure_summary, case.failure_summary
            assert all(s.detail.get("error") for s in failed)
            notes.append(f"failed: {case.failure_summary.splitlines()[0][:70]}")
            # An outage is retried by itself (README, "Resilience"); an answer that cannot be used is not.
            assert (case.retry_at is not None) == (fault == "outage > retry budget"), case.retry_at
            decisions.retry_case(case.pk, Actor.system("test"))
            revocation.run_case(case.pk)
            case.refresh_from_db()
            outcome = RETRIED if case.state == Case.State.COMPLETED else f"failed → retry → {case.state}"
        elif case.ticket != Case.Ticket.FILED:
            assert case.state == Case.State.COMPLETED
            assert case.ticket == Case.Ticket.PENDING
            assert tickets.retry_pending_tickets() == []  # a case just finished is left to its worker
            Case.objects.filter(pk=case.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
            filed = tickets.retry_pending_tickets()
            assert filed == [case.pk], list(case.steps.filter(kind=Step.Kind.FILE_TICKET).values("target", "detail"))
            case.refresh_from_db()
            outcome = TICKET_LATER
        else:
            outcome = case.state

        # Exactly one ticket, with one evidence attachment, and it is filed.
        issues = sandbox.jira_issues()
        assert len(issues) == 1, [i["key"] for i in issues]
        assert [a["filename"] for a in issues[0]["attachments"]] == [f"offboarding-case-{case.pk}-evidence.json"]
        assert case.ticket == Case.Ticket.FILED and case.jira_key == issues[0]["key"]
        # Okta: access is gone.
        user = sandbox.okta_user(case.okta_user_id)
        assert user["status"] == "DEPROVISIONED"
        assert not [g for g in user["groups"] if g["type"] == "OKTA_GROUP"]
        # No change sent again once it had succeeded: one success per change, and it is the last request.
        changes = okta_changes(sandbox)
        assert len(changes) == 4, changes  # two removals, sessions, deactivation
        for call, statuses in changes.items():
            succeeded = [s for s in statuses if 200 <= s < 300]
            assert len(succeeded) == 1 and 200 <= statuses[-1] < 300, (call, statuses)
            assert len(statuses) <= 3 * 2, (call, statuses)  # at most the retry budget, per run
        retried = {k: v for k, v in changes.items() if len(v) > 1}
        if retried:
            notes.append("retried: " + ", ".join(f"{k.split()[0]} ×{len(v)}" for k, v in retried.items()))
        # The audit chain holds.
        assert AuditEvent.verify_chain()[0]

        MATRIX[(step, fault)] = outcome
        assert outcome == EXPECTED[step][fault]


def test_the_readme_holds_the_matrix():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert render_table(EXPECTED, list(STEPS), list(FAULTS)) in readme


class TestTheEvidenceAttachment:
    def test_an_attachment_whose_answer_was_garbled_is_not_attached_twice(self, matrix_org, due_case):
        case = due_case()
        matrix_org.fault("jira", "malformed", "POST /rest/api/3/issue/*/attachments", count=1)
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        case.refresh_from_db()
        assert case.ticket == Case.Ticket.PENDING
        step = Step.objects.get(case=case, target="evidence")
        assert step.status == Step.Status.FAILED and "attachment answer is not JSON" in step.detail["error"]
        Case.objects.filter(pk=case.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
        assert tickets.retry_pending_tickets() == [case.pk]
        (issue,) = matrix_org.jira_issues()
        assert [a["filename"] for a in issue["attachments"]] == [f"offboarding-case-{case.pk}-evidence.json"]
        assert Step.objects.get(case=case, target="evidence").detail["found_existing"] is True
        assert AuditEvent.verify_chain()[0]

    def test_an_attachment_that_failed_is_attached_on_the_next_try(self, matrix_org, due_case):
        case = due_case()
        matrix_org.fault("jira", "outage", "POST /rest/api/3/issue/*/attachments")
        revocation.run_case(case.pk)
        matrix_org.clear_faults()
        Case.objects.filter(pk=case.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
        assert tickets.retry_pending_tickets() == [case.pk]
        (issue,) = matrix_org.jira_issues()
        assert len(issue["attachments"]) == 1
