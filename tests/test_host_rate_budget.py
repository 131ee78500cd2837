"""The ORM broker's Okta budget: the worker processes of one host share it through a file under a lock, so
together they stay inside each window instead of being refused. What it does as Redis's budget does is in
tests/test_rate_budget.py, run against both stores; here, what only separate processes on one host show."""

import json
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime

import pytest

from offboarding.clients.okta import shared_pacer
from offboarding.clients.pacing import HostRateBudget
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

    def test_the_orm_brokers_workers_share_the_hosts_budget(self, sandbox, settings, tmp_path):
        settings.Q_BROKER, settings.OKTA_BUDGET_DIR = "orm", tmp_path
        pacer = shared_pacer(f"{sandbox.okta_url}#{uuid.uuid4().hex}")
        assert isinstance(pacer, HostRateBudget)
        assert pacer.directory == tmp_path
