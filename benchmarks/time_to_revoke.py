"""Benchmark 1: time to revoke.

50 immediate involuntary terminations arrive one by one in the sandbox's Workday; a rule approves them
at once; the real django-q2 cluster revokes them. Measured: from the moment the termination appears in
Workday to the moment the sandbox's Okta shows the user DEPROVISIONED — once with polling at the
default interval (the poller, as `make run` starts it), once with Workday's push. Prints JSON, with the
median of each part of the wait: until a sync or push read the row, until a worker started, until revoked.

    python benchmarks/time_to_revoke.py [--count 50] [--spacing 2] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.conditions import MachineLoad, dates_chosen, day_ended_everywhere  # noqa: E402
from benchmarks.stack import Stack, percentile  # noqa: E402


def run(mode: str, count: int, spacing: float, database: str) -> dict:
    load = MachineLoad()
    with Stack(database, workers=4) as stack:
        from django.conf import settings
        from django.utils import timezone
        from django_q.models import Schedule

        from offboarding.models import AutoApproveRule, SafetySettings

        # Polling sees up to a minute's worth of terminations at once; that is not a layoff here.
        SafetySettings.objects.update_or_create(
            pk=1, defaults={"involuntary_immediately": True, "breaker_count": 10 * count, "breaker_share": 1.0}
        )
        AutoApproveRule.objects.create(name="Involuntary: at once", categories=["Involuntary"], timing="immediately")
        # As in a cluster running for a while, its own sync (the poller's safety net) is not due during the run;
        # a fresh cluster's first scheduler pass, about 30 s in, would run it once among the measured syncs.
        minutes = settings.SCHEDULES["sync_workday"][1]
        Schedule.objects.filter(name="sync_workday").update(next_run=timezone.now() + timedelta(minutes=minutes))
        control = f"{stack.sandbox_url}/_sandbox"
        reset = {"workers": count + 20, "groups_per_person": 6, "pending_terminations": 0}
        if mode == "push":
            stack.start_web()
            reset |= {"push_url": f"{stack.web_url}/api/workday/events", "push_secret": "sandbox-push-secret"}
        requests.post(f"{control}/reset", json=reset, timeout=60).raise_for_status()
        workers = requests.get(f"{control}/workday/workers", timeout=30).json()[:count]
        users = {
            u["profile"]["employeeNumber"]: u["id"] for u in requests.get(f"{control}/okta/users", timeout=30).json()
        }
        stack.start_cluster()
        if mode == "poll":
            stack.start_poller()
        time.sleep(5)  # the cluster and the poller start (the poller reads the still empty report at once)

        appeared: dict[str, float] = {}
        revoked: dict[str, float] = {}

        def watch() -> None:
            while len(revoked) < count:
                for employee_id in list(appeared):
                    if employee_id in revoked:
                        continue
                    state = requests.get(f"{control}/okta/users/{users[employee_id]}", timeout=10).json()
                    if state["status"] == "DEPROVISIONED":
                        revoked[employee_id] = time.time()
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # Involuntary and immediate, so the date does not set the moment; still one over in every worker's zone,
        # as Workday dates a termination entered after the fact.
        zones = {worker["time_zone"] for worker in workers}
        left = day_ended_everywhere(zones)
        for worker in workers:
            employee_id = worker["employee_id"]
            appeared[employee_id] = time.time()
            requests.post(
                f"{control}/workday/terminations",
                json={
                    "employee_id": employee_id,
                    "Termination_Date": left.isoformat(),
                    "Termination_Category": "Involuntary",
                },
                timeout=30,
            ).raise_for_status()
            time.sleep(spacing)
        watcher.join(timeout=300)
        seconds = [revoked[e] - appeared[e] for e in revoked]
        return {
            "mode": mode,
            "database": database,
            "terminations": count,
            "revoked": len(revoked),
            "p50_s": round(percentile(seconds, 0.5), 2),
            "p95_s": round(percentile(seconds, 0.95), 2),
            "max_s": round(max(seconds), 2) if seconds else None,
            **phases(appeared, revoked),
            "termination_date": dates_chosen(
                left, zones, "ended in every worker's zone (the day before the earliest local date)"
            ),
            "machine": load.report(),
        }


def phases(appeared: dict[str, float], revoked: dict[str, float]) -> dict:
    """Median seconds of each part of the wait, from the case's own timestamps (one machine, one clock)."""
    from offboarding.models import Case

    parts: dict[str, list[float]] = {"until_synced": [], "synced_to_started": [], "started_to_revoked": []}
    for case in Case.objects.select_related("termination").filter(termination__employee_id__in=list(revoked)):
        employee_id = case.termination.employee_id
        synced, started = case.termination.first_seen.timestamp(), case.started_at.timestamp()
        parts["until_synced"].append(synced - appeared[employee_id])
        parts["synced_to_started"].append(started - synced)
        parts["started_to_revoked"].append(revoked[employee_id] - started)
    return {f"{name}_p50_s": round(percentile(values, 0.5), 2) for name, values in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=2.0, help="seconds between terminations")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--modes", default="push,poll")
    args = parser.parse_args()
    modes = args.modes.split(",")
    if len(modes) == 1:
        print(json.dumps(run(modes[0], args.count, args.spacing, args.database)))
        return
    # Each mode in a process of its own: Django's settings are read once per process.
    results = [
        json.loads(
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--modes",
                    mode,
                    "--count",
                    str(args.count),
                    "--spacing",
                    str(args.spacing),
                    "--database",
                    args.database,
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        for mode in modes
    ]
    print(json.dumps({"benchmark": "time_to_revoke", "results": results}, indent=2))


if __name__ == "__main__":
    main()
