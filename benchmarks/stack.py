"""The whole product on one machine for a benchmark: a fresh database, the sandbox, the cluster, the web server.

Each part is a real process talking over real HTTP, as in production. A benchmark builds a `Stack`,
sets the scene through the sandbox's control API and the ORM, and measures.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
REPORT = "ISU_Offboarding/Terminations"
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")


# Production settings with the sandbox's credentials: DEBUG off (Django then neither wraps nor keeps every
# query), single sign-on on (never reached by the cluster), every secret given as a deployment gives it.
# SANDBOX_ENABLED keeps the sandbox app and lets the vendors be it (over HTTP on this machine): start-up
# accepts that outside DEBUG only with every vendor on loopback and every credential the sandbox's own.
PRODUCTION = {
    "DEBUG": "false",
    "OFFBOARDING_INSTALL_ID": "benchmark",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SANDBOX_ENABLED": "true",
    "SECRET_KEY": "benchmark-only-" + "x" * 50,
    "AUDIT_KEY": "benchmark-only-audit-key-" + "x" * 32,
    "WORKDAY_PASSWORD": "sandbox-workday-password",
    "OKTA_API_TOKEN": "sandbox-okta-token",
    "JIRA_API_TOKEN": "sandbox-jira-token",
    "WORKDAY_PUSH_SECRET": "sandbox-push-secret",
    "AUTH_MODE": "adfs",
    "ADFS_SERVER": "adfs.invalid",
    "ADFS_CLIENT_ID": "benchmark",
    "ADFS_RELYING_PARTY_ID": "benchmark",
    "ADFS_AUDIENCE": "benchmark",
}


class Stack:
    """database: "sqlite" (with the ORM broker) or "postgres" (with Redis).

    `production`: run the processes with DEBUG off, as deployed (the web pages then need single sign-on,
    so benchmarks that sign in keep the development settings).
    `kept`: the name of a PostgreSQL database to use (created if missing) and keep after the run, so that a
    database seeded once at a large size can be measured again, or copied (`createdb -T`); by default a new
    database, dropped after the run.
    """

    def __init__(
        self,
        database: str = "sqlite",
        workers: int = 4,
        extra_env: dict[str, str] | None = None,
        production: bool = False,
        kept: str | None = None,
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="offboarding-bench-"))
        self.sandbox_port, self.web_port = free_port(), free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        if database == "sqlite":
            database_url, broker = f"sqlite:///{self.tmp / 'db.sqlite3'}", {"Q_BROKER": "orm"}
        else:
            self.pg_name, self.kept = kept or f"offboarding_bench_{uuid.uuid4().hex[:8]}", kept is not None
            if not database_exists(self.pg_name):
                with psycopg.connect(SERVER, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            database_url = f"postgres://postgres@127.0.0.1:5432/{self.pg_name}"
            # BENCHMARK_REDIS_URL: another Redis database for a benchmark run beside another (the stack empties it).
            redis_url = os.environ.get("BENCHMARK_REDIS_URL", "redis://127.0.0.1:6379/0")
            broker = {"Q_BROKER": "redis", "REDIS_URL": redis_url}
        self.database = database
        self.env = {
            **os.environ,
            "OFFBOARDING_IGNORE_DOTENV": "1",
            "DEBUG": "true",
            "DATABASE_URL": database_url,
            **broker,
            "Q_WORKERS": str(workers),
            "WORKDAY_REPORT_URL": f"{self.sandbox_url}/workday/ccx/service/customreport2/acme/{REPORT}",
            "OKTA_ORG_URL": f"{self.sandbox_url}/okta",
            "JIRA_BASE_URL": f"{self.sandbox_url}/jira",
            "SITE_URL": self.web_url,
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "LOG_LEVEL": "WARNING",
            **(PRODUCTION if production else {}),
            **(extra_env or {}),
        }
        self.processes: list[subprocess.Popen] = []

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True)

    def host_dir(self, host: int) -> Path:
        """Host `host`'s own working directory (and its shared directory for the ORM broker's Okta budget)."""
        path = self.tmp / f"host-{host}"
        path.mkdir(exist_ok=True)
        return path

    def host_env(self, host: int) -> dict[str, str]:
        """What differs between two "hosts" on this machine: the working directory and the directory where the
        workers of one host keep their common Okta budget (ORM broker); the database and the broker are shared."""
        return {**self.env, "OKTA_BUDGET_DIR": str(self.host_dir(host) / "okta-budget")}

    def start(self, *args: str, host: int | None = None) -> subprocess.Popen:
        on_host = host is not None
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=self.host_dir(host) if on_host else ROOT,
            env=self.host_env(host) if on_host else self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def __enter__(self) -> Stack:
        self.manage("migrate", "--noinput")
        if self.database == "postgres":
            import redis

            redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()
        self.start("sandbox", "--addr", f"127.0.0.1:{self.sandbox_port}", "--quiet", "--pending-terminations", "0")
        wait_for_port(self.sandbox_port)
        # The benchmark process itself reads and writes the same database through the ORM.
        os.environ.update(self.env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "offboarding.settings")
        import django

        django.setup()
        return self

    def start_cluster(self, hosts: int = 1) -> list[subprocess.Popen]:
        """One `qcluster` per host (each with Q_WORKERS workers), in its own working directory."""
        return [self.start("qcluster", host=host) for host in range(hosts)]

    def start_poller(self) -> subprocess.Popen:
        """The Procfile's `poller`: reads the Workday report every SYNC_INTERVAL_MINUTES."""
        return self.start("sync_workday", "--poll")

    def start_web(self, hosts: int = 1) -> list[str]:
        """One web process per host, each on its own port (the first on `web_url`); their URLs."""
        ports = [self.web_port] + [free_port() for _ in range(hosts - 1)]
        for host, port in enumerate(ports):
            self.start("runserver", f"127.0.0.1:{port}", "--noreload", host=host)
            wait_for_port(port)
        return [f"http://127.0.0.1:{port}" for port in ports]

    def cluster_memory_mb(self) -> float:
        """Resident memory of every qcluster process (sentinel, workers, monitor, pusher) of every host, in MiB."""
        return sum(self.cluster_process_memory_mb())

    def cluster_process_memory_mb(self) -> list[float]:
        """Resident memory of each qcluster process of every host, in MiB."""
        sizes = []
        for process in self.processes:
            for pid in [process.pid, *_descendants(process.pid)]:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    cmdline = Path(f"/proc/{pid}/cmdline").read_text()
                except OSError:
                    continue
                if "qcluster" in cmdline:
                    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
                    sizes.append(kib / 1024)
        return sizes

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
        if self.database == "postgres":
            from django.db import connections

            connections.close_all()
            if not self.kept:
                with psycopg.connect(SERVER, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    with psycopg.connect(SERVER) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _descendants(pid: int) -> list[int]:
    children = []
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            children += [int(child), *_descendants(int(child))]
    except OSError:
        pass
    return children


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]
