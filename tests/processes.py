"""The project run in other processes, as an operator would: manage.py with a given environment, and a
qcluster (the worker) pointed at the sandbox; and waiting for what another process or thread brings about.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent

# A production environment the settings accept (every value a stand-in).
PRODUCTION = {
    "DEBUG": "false",
    "OFFBOARDING_INSTALL_ID": "prod",
    "SECRET_KEY": "k" * 20 + "production-secret-key-with-plenty-of-entropy-0123456789",
    "ALLOWED_HOSTS": "offboarding.example.com",
    "AUTH_MODE": "adfs",
    "ADFS_SERVER": "adfs.example.com",
    "ADFS_CLIENT_ID": "client-id",
    "ADFS_RELYING_PARTY_ID": "offboarding",
    "ADFS_AUDIENCE": "microsoft:identityserver:offboarding",
    "WORKDAY_REPORT_URL": "https://wd5-services1.myworkday.com/ccx/service/customreport2/acme/ISU_Offboarding/Terminations",
    "OKTA_ORG_URL": "https://acme.okta.com",
    "JIRA_BASE_URL": "https://acme.atlassian.net",
    "WORKDAY_PASSWORD": "w",
    "OKTA_API_TOKEN": "o",
    "JIRA_API_TOKEN": "j",
    "AUDIT_KEY": "production-audit-key-" + "a" * 32,
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run manage.py in a clean environment holding only `env` (plus PATH)."""
    environ = {"PATH": os.environ["PATH"], "OFFBOARDING_IGNORE_DOTENV": "1", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def database_url() -> str:
    """DATABASE_URL for a process of the project's own, on this test run's database."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_cluster(sandbox) -> subprocess.Popen:
    """`manage.py qcluster` with one worker, on this test run's database and the sandbox."""
    env = {
        **os.environ,
        "OFFBOARDING_IGNORE_DOTENV": "1",
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "Q_WORKERS": "1",
        "REVOCATION_LEASE_SECONDS": "3",
        "OKTA_ORG_URL": sandbox.okta_url,
        "OKTA_API_TOKEN": sandbox.okta_token,
        "JIRA_BASE_URL": sandbox.jira_url,
        "JIRA_EMAIL": sandbox.jira_email,
        "JIRA_API_TOKEN": sandbox.jira_token,
        "JIRA_PROJECT_KEY": sandbox.jira_project_key,
        "WORKDAY_REPORT_URL": sandbox.workday_report_url,
        "CLIENT_BACKOFF_INITIAL": "0.01",
        "CLIENT_BACKOFF_MAX": "0.05",
        # Removals two at a time: six of them take three batches, so the kill lands mid-case.
        "REVOCATION_PARALLEL_CALLS": "2",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so the kill takes every worker with it
    )


def kill(cluster: subprocess.Popen) -> None:
    os.killpg(cluster.pid, signal.SIGKILL)
    cluster.wait(timeout=10)


def wait_for(condition, timeout: float, what: str, every: float = 0.2):
    """The condition's first true value, looked at every `every` seconds; an AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    """A TCP port nothing listens on now, for a process of the project's own."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
