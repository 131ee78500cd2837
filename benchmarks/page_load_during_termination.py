"""Benchmark: a mass termination while people reload case pages.

Runs the mass termination of `benchmarks/mass_termination.py` twice, each on a fresh stack with the web server
up: alone, and with N simulated approvers (default 20) each reloading a random case page every R seconds
while it runs. A case page reads Okta only within the part of the shared budget not reserved for revocations
(OKTA_BUDGET_RESERVED_FOR_REVOCATION), keeps a read per case for OKTA_LIVE_READ_CACHE_SECONDS and limits
each user, so the termination should be as efficient with them as without (target: within 5 %). Both runs
begin at a clock minute, so Okta's fixed windows fall alike in each. Prints JSON:
both runs' figures, the page loads (count, statuses, p50/p95 ms, how many showed Okta live and how many the
stored state, and why) and the ratio of the two efficiencies.

    python benchmarks/page_load_during_termination.py [--count 200] [--scale 2] [--workers 4] [--readers 20]
        [--every 1] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.conditions import start_of_next_minute  # noqa: E402
from benchmarks.mass_termination import run  # noqa: E402
from benchmarks.stack import Stack, percentile  # noqa: E402

# The web server as deployed behind a TLS proxy: production settings, our own address as the host.
WEB_ENV = {"ALLOWED_HOSTS": "127.0.0.1", "BEHIND_PROXY": "true"}
LIVE, RESERVED, USER_LIMIT = "Okta user (live)", "Okta budget reserved for revocations", "OKTA_LIVE_READS_PER_USER"
UNRESOLVED = "No Okta user is resolved"


def okta_shown(page: str) -> str:
    """What a case page showed of Okta: the live read, or the stored state and why."""
    for marker, shown in (
        (LIVE, "live"),
        (RESERVED, "stored: budget reserved"),
        (USER_LIMIT, "stored: user limit"),
        (UNRESOLVED, "no Okta user yet (not looked up)"),
    ):
        if marker in page:
            return shown
    return "other"


class PageReaders:
    """`readers` approvers, each signed in, reloading a random case page every `every` seconds until told to stop."""

    def __init__(self, readers: int, every: float, seed: int = 1) -> None:
        self.readers, self.every = readers, every
        self.rng = random.Random(seed)
        self.loads: list[tuple[int, float, str]] = []  # (status, milliseconds, what the page showed of Okta)
        self.case_ids: list[int] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, stack: Stack) -> Callable[[], dict]:
        stack.start_web()
        if not self.readers:
            start_of_next_minute()
            return dict
        from django.conf import settings
        from django.contrib.auth.models import Group, User
        from django.test import Client

        approvers = Group.objects.get(name="approvers")
        sessions = []
        for n in range(self.readers):
            user = User.objects.create_user(f"page-reader-{n}")
            user.groups.add(approvers)
            client = Client()
            client.force_login(user)
            sessions.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
        threads = [threading.Thread(target=self.watch_cases, daemon=True)]
        threads += [
            threading.Thread(target=self.read, args=(stack.web_url, settings.SESSION_COOKIE_NAME, s), daemon=True)
            for s in sessions
        ]
        for thread in threads:
            thread.start()
        start_of_next_minute()  # the readers wait for the first cases, which the sync opens once this returns

        def finish() -> dict:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=30)
            return {"page_readers": self.report()}

        return finish

    def watch_cases(self) -> None:
        from django.db import connection

        from offboarding.models import Case

        while not self.stop.wait(2):
            self.case_ids = list(Case.objects.values_list("pk", flat=True))
        connection.close()

    def read(self, web_url: str, cookie_name: str, session_id: str) -> None:
        with requests.Session() as session:
            session.cookies.set(cookie_name, session_id)
            session.headers["X-Forwarded-Proto"] = "https"
            while not self.stop.is_set():
                if not self.case_ids:
                    self.stop.wait(0.2)
                    continue
                with self.lock:
                    case_id = self.rng.choice(self.case_ids)
                started = time.monotonic()
                try:
                    response = session.get(f"{web_url}/cases/{case_id}/", timeout=30, allow_redirects=False)
                    status, body = response.status_code, response.text
                except requests.RequestException:
                    status, body = 0, ""
                took = time.monotonic() - started
                with self.lock:
                    self.loads.append((status, took * 1000, okta_shown(body)))
                self.stop.wait(max(0.0, self.every - took))

    def report(self) -> dict:
        times = [ms for status, ms, _ in self.loads if status == 200]
        return {
            "readers": self.readers,
            "reload_every_s": self.every,
            "page_loads": len(self.loads),
            "statuses": dict(Counter(status for status, _, _ in self.loads)),
            "okta_shown": dict(Counter(shown for status, _, shown in self.loads if status == 200)),
            "p50_ms": round(percentile(times, 0.5), 1),
            "p95_ms": round(percentile(times, 0.95), 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--scale", type=float, default=2, help="multiply Okta's documented limits by this")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between one reader's reloads")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--one", action="store_true", help="one run, with --readers (each run is its own process)")
    args = parser.parse_args()
    if args.one:
        readers = PageReaders(args.readers, args.every)
        print(json.dumps(run(args.count, args.scale, args.workers, args.database, WEB_ENV, readers)))
        return
    # Each run in a process of its own: Django's settings are read once per process.
    runs = {}
    for name, readers in (("without_readers", 0), ("with_readers", args.readers)):
        command = [sys.executable, __file__, "--one", "--readers", str(readers), "--every", str(args.every)]
        command += ["--count", str(args.count), "--scale", str(args.scale), "--workers", str(args.workers)]
        command += ["--database", args.database]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        runs[name] = json.loads(output.strip().splitlines()[-1])
    alone, read = runs["without_readers"]["efficiency"], runs["with_readers"]["efficiency"]
    ratio = read / alone if alone and read else None
    print(
        json.dumps(
            {
                "benchmark": "page_load_during_termination",
                "efficiency_without_readers": alone,
                "efficiency_with_readers": read,
                "efficiency_ratio": round(ratio, 3) if ratio else None,
                "within_5_percent": ratio is not None and ratio >= 0.95,
                "okta_calls_added_by_pages": runs["with_readers"]["okta_calls_total"]
                - runs["without_readers"]["okta_calls_total"],
                **runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
