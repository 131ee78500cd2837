"""Benchmark 2: a mass termination against Okta's rate limits.

N terminations (default 2,000), each person in about 15 removable groups plus BUILT_IN (Everyone) and
often an APP_GROUP, against the sandbox enforcing the documented per-minute limits scaled by a factor
(so the run takes minutes) with 50 ms added to every Okta call. One sync opens the cases, a rule
approves them, the real cluster revokes them. Prints JSON: wall time, calls made, the theoretical
minimum time the limits allow, their ratio (efficiency), 429s, retries, cases completed/failed,
tickets filed, peak memory of the cluster.

    python benchmarks/mass_termination.py [--count 2000] [--scale 10] [--workers 8] [--database sqlite|postgres]
        [--hosts 1] [--owners-map warm|cold] [--warm-scale F]

`--hosts N` runs N `qcluster` processes (each with `--workers` workers) and N web processes, each in its own
working directory and on its own port, standing in for hosts: they share the database and the broker (and,
with Redis, the Okta budget); with the ORM broker each "host" keeps its workers' common budget in its own
directory. The run begins at a clock minute (Okta's windows, and the sandbox's, are clock minutes), so the
first window is a whole one and runs compare.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.conditions import (  # noqa: E402
    MachineLoad,
    dates_chosen,
    day_ended_everywhere,
    start_of_next_minute,
)
from benchmarks.stack import Stack  # noqa: E402

DOCUMENTED_LIMITS = {"/api/v1/users": 600, "GET /api/v1/users/{id}": 1000, "/api/v1/groups": 600, "/api/v1": 600}


def run(
    count: int,
    scale: float,
    workers: int,
    database: str,
    extra_env: dict[str, str] | None = None,
    alongside: Callable[[Stack], Callable[[], dict]] | None = None,
    hosts: int = 1,
    owners_map: str = "warm",
    warm_scale: float | None = None,
) -> dict:
    """`alongside(stack)`, when given, starts something that runs with the termination (e.g. people reading the
    pages) once the cluster is up; what it returns is called when the termination is over, for its figures."""
    load = MachineLoad()
    with Stack(database, workers=workers, production=True, extra_env=extra_env) as stack:
        from django.utils import timezone
        from django_q.models import Schedule

        from offboarding.clients.pacing import okta_rate_limit_family
        from offboarding.models import AuditEvent, AutoApproveRule, Case, SafetySettings

        # A benchmark of throughput, not of the breaker: the people are known to be leaving.
        SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_count": count * 10, "breaker_share": 1.0})
        AutoApproveRule.objects.create(name="Layoff")
        Schedule.objects.exclude(name="enqueue_due_cases").update(next_run=timezone.now() + timedelta(days=1))
        control = f"{stack.sandbox_url}/_sandbox"
        limits = {family: int(limit * scale) for family, limit in DOCUMENTED_LIMITS.items()}
        requests.post(
            f"{control}/reset",
            json={"workers": count, "groups_per_person": 17, "pending_terminations": 0, "rate_limits": limits},
            timeout=300,
        ).raise_for_status()
        with requests.Session() as session:
            people = session.get(f"{control}/workday/workers", timeout=60).json()
            # Over in every worker's zone at any hour (UTC's yesterday is not, before 08:00 UTC, in California).
            zones = {worker["time_zone"] for worker in people}
            left = day_ended_everywhere(zones)
            for worker in people:
                session.post(
                    f"{control}/workday/terminations",
                    json={"employee_id": worker["employee_id"], "Termination_Date": left.isoformat()},
                    timeout=30,
                ).raise_for_status()
        requests.post(f"{control}/faults", json={"service": "okta", "kind": "latency", "seconds": 0.05}, timeout=10)
        # In production the schedule keeps the org's group owners map (one call per group) read in the background
        # (`refresh_group_owners`); the layoff's lookups find it kept. `--owners-map cold`: none is kept, the
        # first lookup reads it and every lookup waits for it.
        # `--warm-scale`: the map is read at other limits (the schedule would have read it over the half hour before;
        # at 10,000 people it is 54,000 calls), then the run's limits are set, from the next call on.
        owners_map_s = None
        if owners_map == "warm":
            warming = time.monotonic()
            if warm_scale:
                warm = {family: int(limit * warm_scale) for family, limit in DOCUMENTED_LIMITS.items()}
                requests.post(f"{control}/okta/rate_limits", json=warm, timeout=10).raise_for_status()
            stack.manage("refresh_group_owners")
            if warm_scale:
                requests.post(f"{control}/okta/rate_limits", json=limits, timeout=10).raise_for_status()
            owners_map_s = round(time.monotonic() - warming, 1)
        requests.delete(f"{control}/requests", timeout=10)

        events_before = AuditEvent.objects.count()
        stack.start_cluster(hosts)
        if hosts > 1:
            stack.start_web(hosts)
        finish_alongside = alongside(stack) if alongside else None
        if finish_alongside is None:
            start_of_next_minute()  # (an `alongside` starts at one itself, once it has started)
        peak_memory = peak_process_memory = 0.0
        done = threading.Event()

        def sample_memory() -> None:
            nonlocal peak_memory, peak_process_memory
            while not done.is_set():
                sizes = stack.cluster_process_memory_mb()
                peak_memory = max(peak_memory, sum(sizes))
                peak_process_memory = max([peak_process_memory, *sizes])
                time.sleep(1)

        threading.Thread(target=sample_memory, daemon=True).start()
        started, started_epoch = time.monotonic(), time.time()
        stack.manage("sync_workday")
        finished = {Case.State.COMPLETED, Case.State.FAILED}
        while Case.objects.exclude(state__in=finished).exists() or Case.objects.exclude(ticket="filed").exists():
            time.sleep(2)
            if time.monotonic() - started > 3 * 3600:
                break
        wall = time.monotonic() - started
        done.set()
        beside = finish_alongside() if finish_alongside else {}

        log = requests.get(f"{control}/requests", params={"service": "okta"}, timeout=120).json()
        families = [okta_rate_limit_family(r["method"], "/api/v1" + r["path"].split("/api/v1", 1)[-1]) for r in log]
        calls = Counter(families)
        statuses = Counter(r["status"] for r in log)
        window = 60.0
        # The rate-limit bound: each family's calls at exactly its allowed rate (30,000 calls at 6,000 a
        # minute take 5 minutes). Efficiency is the share of that rate the run achieved.
        minimum = max(calls[f] / limits[f] * window for f in calls if f in limits)
        # A harder floor: the sandbox's windows, like Okta's, are fixed clock minutes, so k windows' worth
        # of calls cannot end before the k-th window opens, counted from where in a minute the run began.
        into_window = started_epoch % window
        window_floor = max((math.ceil(calls[f] / limits[f]) - 1) * window - into_window for f in calls if f in limits)
        states = Counter(Case.objects.values_list("state", flat=True))
        # Where the time went: seconds from the start until the last case was decided (the sync),
        # and until revocations started and ended; Okta calls answered in each rate-limit window.
        run_started = timezone.now() - timedelta(seconds=time.monotonic() - started)

        def seconds_until(field: str, pick) -> float | None:
            moments = [m for m in Case.objects.values_list(field, flat=True) if m]
            return round((pick(moments) - run_started).total_seconds(), 1) if moments else None

        per_minute = Counter(
            (family, int(datetime.fromisoformat(r["time"]).timestamp() // window - started_epoch // window))
            for family, r in zip(families, log, strict=True)
        )
        minutes = range(max((m for _, m in per_minute), default=-1) + 1)
        tickets = requests.get(f"{control}/jira/issues", timeout=60).json()
        # The audit chain: events appended during the run, on average and in its busiest second.
        appended = AuditEvent.objects.filter(seq__gt=events_before)
        per_second = Counter(at.replace(microsecond=0) for at in appended.values_list("at", flat=True))
        return {
            "database": database,
            "broker": stack.env["Q_BROKER"],
            "hosts": hosts,
            "workers": workers,
            "workers_in_all": workers * hosts,
            "terminations": count,
            "limits_per_minute": limits,
            "group_owners_map": owners_map,
            "group_owners_map_read_before_s": owners_map_s,
            "group_owners_map_read_at_limits_scale": (warm_scale or scale) if owners_map == "warm" else None,
            "wall_s": round(wall, 1),
            "okta_calls": dict(calls),
            "okta_calls_total": len(log),
            "theoretical_minimum_s": round(minimum, 1),
            "efficiency": round(minimum / wall, 3) if minimum else None,
            "window_floor_s": round(window_floor, 1),
            "efficiency_vs_window_floor": round(window_floor / wall, 3) if window_floor > 0 else None,
            "timeline_s": {
                "last_case_decided": seconds_until("decided_at", max),
                "first_revocation_started": seconds_until("started_at", min),
                "last_revocation_started": seconds_until("started_at", max),
                "last_revoked": seconds_until("revoked_at", max),
            },
            "okta_calls_per_window": {f: [per_minute[f, m] for m in minutes] for f in calls},
            "responses_429": statuses.get(429, 0),
            "retries": statuses.get(429, 0) + sum(n for s, n in statuses.items() if s >= 500 or s == 0),
            "cases": dict(states),
            "tickets_filed": len(tickets),
            "distinct_ticket_labels": len(
                {label for t in tickets for label in t["fields"]["labels"] if "case" in label}
            ),
            "peak_cluster_memory_mb": round(peak_memory, 1),
            "audit_events_appended": appended.count(),
            "audit_events_per_s": round(appended.count() / wall, 1),
            "audit_events_busiest_second": max(per_second.values(), default=0),
            "peak_memory_of_one_cluster_process_mb": round(peak_process_memory, 1),
            "termination_date": dates_chosen(
                left, zones, "ended in every worker's zone (the day before the earliest local date)"
            ),
            **beside,
            "machine": load.report(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--scale", type=float, default=10, help="multiply Okta's documented limits by this")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--hosts", type=int, default=1, help="qcluster and web processes standing in for hosts")
    parser.add_argument(
        "--owners-map",
        choices=["warm", "cold"],
        default="warm",
        help="warm: the group owners map is kept, as its schedule keeps it; cold: the lookups read it first",
    )
    parser.add_argument(
        "--warm-scale",
        type=float,
        default=None,
        help="read the kept owners map at limits ×this before the run (default: --scale), then set the run's",
    )
    args = parser.parse_args()
    figures = run(
        args.count,
        args.scale,
        args.workers,
        args.database,
        hosts=args.hosts,
        owners_map=args.owners_map,
        warm_scale=args.warm_scale,
    )
    print(json.dumps({"benchmark": "mass_termination", **figures}))


if __name__ == "__main__":
    main()
