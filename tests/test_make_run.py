"""`make run` as a newcomer meets it: the Procfile's processes under scripts/run.py (what `make run` starts after
migrating and creating the demo users), on a database of its own and free ports. It shows a case of each kind,
logs product events rather than sandbox requests, starts the poller only once the sandbox answers, and stops
on Ctrl-C with exit status 0."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.processes import ROOT, free_port, manage, wait_for

pytestmark = pytest.mark.slow

# Generous: two slow cores, shared; nothing here is timed, a real hang still fails.
START_SECONDS = 180
STOP_SECONDS = 90

# Each kind of demo case, as a query on the demo's database: how many cases are of that kind.
KINDS = {
    "normal": "state = 'pending_review' AND identity = 'exact' AND protected_reason = ''",
    "future-dated": "state IN ('pending_review', 'needs_attention') AND effective_at > :tomorrow",
    "protected": "protected_reason != ''",
    "identity mismatch": "identity = 'name_mismatch'",
    "several Okta users": "identity = 'multiple'",
    "no Okta user": "identity = 'none'",
    "failed and retryable": "state = 'failed' AND retry_at IS NOT NULL",
    "rescinded": "state = 'cancelled' AND termination_id IN (SELECT id FROM offboarding_termination WHERE rescinded)",
}


@pytest.fixture
def demo_env(tmp_path) -> dict:
    web, vendors = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    return {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # the Procfile's `python`: make run's
        "OFFBOARDING_IGNORE_DOTENV": "1",
        "DEBUG": "true",
        "AUTH_MODE": "local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "Q_CLUSTER_NAME": f"make-run-{uuid.uuid4().hex[:8]}",
        "WEB_ADDR": web,
        "SITE_URL": f"http://{web}",
        "SANDBOX_ADDR": vendors,
        "WORKDAY_REPORT_URL": f"http://{vendors}/workday/ccx/service/customreport2/acme/ISU_Offboarding/Terminations",
        "WORKDAY_USERNAME": "ISU_Offboarding",
        "WORKDAY_PASSWORD": "sandbox-workday-password",
        "OKTA_ORG_URL": f"http://{vendors}/okta",
        "OKTA_API_TOKEN": "sandbox-okta-token",
        "JIRA_BASE_URL": f"http://{vendors}/jira",
        "JIRA_EMAIL": "offboarding@example.com",
        "JIRA_API_TOKEN": "sandbox-jira-token",
        "JIRA_PROJECT_KEY": "SEC",
    }


def count_kinds(database: str) -> dict[str, int]:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(database, timeout=30) as db:
        return {
            kind: db.execute(f"SELECT count(*) FROM offboarding_case WHERE {where}", {"tomorrow": tomorrow}).fetchone()[
                0
            ]
            for kind, where in KINDS.items()
        }


def site_answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


class TestMakeRun:
    def test_it_shows_every_kind_of_case_and_ctrl_c_stops_everything_with_status_0(self, demo_env, tmp_path):
        for step in (("migrate", "--noinput"), ("create_demo_users",)):
            done = manage(*step, **{k: v for k, v in demo_env.items() if k != "PATH"})
            assert done.returncode == 0, done.stderr
        log = (tmp_path / "make-run.log").open("w+")
        run = subprocess.Popen(
            [sys.executable, "scripts/run.py"],
            cwd=ROOT,
            env=demo_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # as a terminal's Ctrl-C, the signal reaches this process only
        )
        try:
            wait_for(lambda: site_answers(f"{demo_env['SITE_URL']}/accounts/login/"), START_SECONDS, "the site")
            database = demo_env["DATABASE_URL"].removeprefix("sqlite:///")
            kinds = wait_for(
                lambda: (found := count_kinds(database)) and all(found.values()) and found,
                START_SECONDS,
                "a demo case of each kind",
                every=1,
            )
            assert all(kinds.values()), kinds
            os.kill(run.pid, signal.SIGINT)
            assert run.wait(timeout=STOP_SECONDS) == 0
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
        log.seek(0)
        output = log.read()
        assert "SIGKILL" not in output
        for name in ("web", "worker", "poller", "sandbox"):
            assert f"{name}.1 stopped" in output, name
        # One line per product event, none per sandbox request, and no start-up race with the sandbox.
        assert "offboarding.events case.opened by system:sync_workday" in output
        assert "offboarding.events case.failed by system:revocation" in output
        assert not re.search(r'"(GET|POST|PUT|DELETE) /(okta|jira|workday)/', output)
        assert "Connection refused" not in output and "retrying" not in output.split("case.started")[0]
