"""The ORM broker's Okta budget: the worker processes of one host share it through a file under a lock, so
together they stay inside each window instead of being refused."""

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime

import pytest

from offboarding.clients.okta import OktaClient, SswsAuth, shared_pacer
from offboarding.clients.pacing import Deferring, HostRateBudget
from offboarding.clients.transport import RetryPolicy, Secret
from tests.fake_clock import FakeClock
from tests.processes import ROOT

# One process's calls, each refused call raised at once (one attempt, no wait for a reset): what it says
# is the status of each of its calls.
WORKER = """
import json, sys
sys.path.insert(0, {root!r})
from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OktaClient, SswsAuth
from offboarding.clients.pacing import Deferring, HostRateBudget
from offboarding.clients.transport import RetryPolicy
from offboarding.clients.transport import Secret

budget = HostRateBudget({directory!r}, {org!r}, max_concurrency={concurrency})
client = OktaClient({org!r}, SswsAuth(Secret({token!r})), policy=RetryPolicy(max_attempts=1), pacer=budget)
statuses = []
for _ in range({calls}):
    try:
        client.get_user({user_id!r})
        statuses.append(200)
    except VendorError as e:
        statuses.append(e.status)
print(json.dumps(statuses))
"""


def run_processes(count: int, calls_each: int, sandbox, directory, user_id: str, concurrency: int = 20) -> list:
    script = WORKER.format(
        root=str(ROOT),
        directory=str(directory),
        org=sandbox.okta_url,
        token=sandbox.okta_token,
        user_id=user_id,
        calls=calls_each,
        concurrency=concurrency,
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    answers = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        answers.append(json.loads(out))
    return answers


def calls_per_window(sandbox, path: str, window: float) -> Counter:
    return Counter(
        int(datetime.fromisoformat(r["time"]).timestamp() // window)
        for r in sandbox.requests("okta")
        if r["path"] == path and r["status"] == 200
    )


class TestHostRateBudget:
    # Windows of 3 seconds (the sandbox's, like Okta's, are fixed): 24 calls at 8 a window need three.
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 8}, rate_limit_window=3)
    def test_two_processes_never_exceed_a_window_together(self, sandbox, tmp_path):
        user_id = sandbox.okta_users()[0]["id"]
        answers = run_processes(2, 12, sandbox, tmp_path, user_id)
        assert answers == [[200] * 12, [200] * 12]  # nothing refused: past the window's calls, they waited
        windows = calls_per_window(sandbox, f"/api/v1/users/{user_id}", 3)
        assert sum(windows.values()) == 24
        assert max(windows.values()) <= 8
        assert len(windows) >= 3

    @pytest.mark.sandbox(concurrency_limit=3)
    def test_it_caps_calls_in_flight_across_processes(self, sandbox, tmp_path):
        sandbox.fault("okta", "latency", "GET /api/v1/users/*", seconds=0.2)
        user_id = sandbox.okta_users()[0]["id"]
        answers = run_processes(3, 4, sandbox, tmp_path, user_id, concurrency=3)
        assert answers == [[200] * 4] * 3
        assert 429 not in [r["status"] for r in sandbox.requests("okta")]

    def test_a_dead_processs_calls_stop_counting(self, sandbox, tmp_path):
        clock = FakeClock(now=time.time())
        budget = {"max_concurrency": 1, "stale_after": 0.5, "clock": clock.time, "sleep": clock.sleep}
        org = f"{sandbox.okta_url}#{uuid.uuid4().hex}"
        HostRateBudget(tmp_path, org, **budget).before_request("GET", "/api/v1/users/x")  # never released
        alive = HostRateBudget(tmp_path, org, **budget)
        started = clock.now
        alive.before_request("GET", "/api/v1/users/x")
        assert clock.now - started >= 0.5  # it waited until the dead call went stale
        alive.release("GET", "/api/v1/users/x")
        assert alive.snapshot().calls_in_flight == 0

    # An hour's window, so the test does not straddle a reset.
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 10}, rate_limit_window=3600)
    def test_it_spends_the_whole_window_and_then_waits_for_the_reset(self, sandbox, tmp_path):
        user_id = sandbox.okta_users()[0]["id"]
        waits: list[float] = []

        class Waited(Exception):
            pass

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            raise Waited

        budget = HostRateBudget(tmp_path, sandbox.okta_url, sleep=sleep)
        client = OktaClient(sandbox.okta_url, SswsAuth(Secret(sandbox.okta_token)), policy=RetryPolicy(), pacer=budget)
        for _ in range(10):
            client.get_user(user_id)
        assert waits == []
        with pytest.raises(Waited):
            client.get_user(user_id)
        assert len(waits) == 1 and 0 < waits[0] <= 3600
        assert [r["status"] for r in sandbox.requests("okta")] == [200] * 10
        assert budget.snapshot().families[0].remaining == 0

    def test_the_orm_brokers_workers_share_the_hosts_budget(self, sandbox, settings, tmp_path):
        settings.Q_BROKER, settings.OKTA_BUDGET_DIR = "orm", tmp_path
        pacer = shared_pacer(f"{sandbox.okta_url}#{uuid.uuid4().hex}")
        assert isinstance(pacer, HostRateBudget)
        assert pacer.directory == tmp_path


class TestLookupsDeferToRevocations:
    """The whole report's lookups (Deferring) spend only the part of a window not reserved for revocations."""

    # An hour's window: 10 calls, half of them reserved for revocations.
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 10}, rate_limit_window=3600)
    def test_a_lookup_waits_for_the_reset_once_only_the_reserved_share_is_left(self, sandbox, tmp_path):
        user_id = sandbox.okta_users()[0]["id"]
        waits: list[float] = []

        class Waited(Exception):
            pass

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            raise Waited

        budget = HostRateBudget(tmp_path, sandbox.okta_url, sleep=sleep)
        auth = SswsAuth(Secret(sandbox.okta_token))
        lookups = OktaClient(sandbox.okta_url, auth, policy=RetryPolicy(), pacer=Deferring(budget, 0.5))
        revocations = OktaClient(sandbox.okta_url, auth, policy=RetryPolicy(), pacer=budget)
        for _ in range(5):
            lookups.get_user(user_id)
        with pytest.raises(Waited):
            lookups.get_user(user_id)  # 5 of 10 left: the reserved half, which a lookup waits for the reset over
        assert len(waits) == 1 and 0 < waits[0] <= 3600
        for _ in range(5):
            revocations.get_user(user_id)  # a revocation's calls spend it
        assert len(waits) == 1
        assert [r["status"] for r in sandbox.requests("okta")] == [200] * 10

    def test_lookups_join_only_their_share_of_the_calls_in_flight(self, sandbox, tmp_path):
        clock = FakeClock(now=time.time())
        org = f"{sandbox.okta_url}#{uuid.uuid4().hex}"
        budget = HostRateBudget(tmp_path, org, max_concurrency=4, clock=clock.time, sleep=clock.sleep)
        lookups = Deferring(budget, 0.5)
        for _ in range(2):
            lookups.before_request("GET", "/api/v1/users")
        budget.before_request("GET", "/api/v1/users")  # a revocation's call still goes: 3 of 4 in flight
        assert budget.snapshot().calls_in_flight == 3
        started = clock.now
        waiting = budget.stale_after
        budget.stale_after = 0.5  # the two lookups' slots free up only as they go stale
        lookups.before_request("GET", "/api/v1/users")
        assert clock.now - started >= 0.5
        budget.stale_after = waiting
