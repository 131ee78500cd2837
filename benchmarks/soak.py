"""Soak: the real django-q2 cluster killed with SIGKILL at random points while it revokes many cases.

Every case is approved and queued; a cluster is started, killed after a random while, started again,
and so on, while the driver does what the `enqueue_due_cases` schedule does (re-enqueue approved
cases and running ones whose lease ran out) and, at the end, what `retry_tickets` does. Then it checks:
every case completed and its Okta user deprovisioned with no OKTA_GROUP left, exactly one Jira ticket
per case, no Okta change repeated beyond the calls in flight when a worker died, and the audit chain.

    python benchmarks/soak.py [--cases 700] [--kills 60] [--seed 1] [--database sqlite|postgres]

A short version (10 cases) runs in the suite: tests/test_soak.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.conditions import MachineLoad, dates_chosen, day_ended_everywhere  # noqa: E402

# The world the soak starts from: nobody but the leavers it adds.
SOAK_WORLD = {"pending_terminations": 0, "workers": 0}


def soak(
    sandbox,
    start_cluster: Callable[[], subprocess.Popen],
    approver,
    *,
    cases: int,
    kills: int,
    seed: int = 1,
    workers: int = 1,
    calls_in_flight: int = 1,
    life: tuple[float, float] = (2.0, 6.0),
    timeout: float = 600.0,
    log: Callable[[str], None] = lambda line: None,
    reset: bool = True,
) -> dict:
    """Run the soak against `sandbox` (a sandbox.control.Sandbox) and the database Django is set up on.

    `reset=False` when the sandbox is already reset to SOAK_WORLD with an empty request log (as the
    test's fixture does)."""
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import Schedule

    from offboarding import decisions, revocation, sync, tickets
    from offboarding.models import AuditEvent, Case

    rng = random.Random(seed)
    started = time.monotonic()
    if reset:
        sandbox.reset(**SOAK_WORLD)
    user_ids = []
    # Over in the leavers' zone (UTC) at any hour of the run.
    left = day_ended_everywhere(["UTC"])
    for n in range(cases):
        employee_id = f"S{n:04d}"
        groups = [sandbox.add_okta_group(f"Soak {employee_id} {g}")["id"] for g in range(rng.randint(1, 4))]
        user_ids.append(sandbox.add_okta_user(employee_id, f"Soak{n}", "Leaver", groups=groups)["id"])
        sandbox.add_termination(
            employee_id,
            Worker=f"Soak{n} Leaver",
            First_Name=f"Soak{n}",
            Last_Name="Leaver",
            Termination_Date=left.isoformat(),
            Termination_Category="Voluntary",
            Time_Zone="UTC",
        )
    sync.sync_workday()
    # The driver re-enqueues and files the tickets; the cluster's own schedules stay out of the way.
    Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
    broker = get_broker()
    broker.purge_queue()
    for case in Case.objects.all():
        decisions.approve(case.pk, approver, "soak")  # each enqueued when its approval commits
    # Every Okta call takes a little while, so a kill lands mid-case as often as between cases.
    sandbox.fault("okta", "latency", seconds=0.03)
    sandbox.clear_requests()

    def unfinished() -> int:
        return Case.objects.exclude(state=Case.State.COMPLETED).count()

    done_kills = 0
    while unfinished() and time.monotonic() - started < timeout:
        cluster = start_cluster()
        deadline = time.monotonic() + (rng.uniform(*life) if done_kills < kills else timeout)
        while time.monotonic() < deadline and unfinished():
            time.sleep(0.25)
            if broker.queue_size() == 0 and (due := list(Case.objects.due().values_list("pk", flat=True))):
                for case_id in due:  # what `run_due --enqueue` does every minute
                    revocation.enqueue(case_id)
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=30)
        if unfinished():
            done_kills += 1
            log(f"killed the cluster ({done_kills}); {unfinished()} cases to go")

    # The `retry_tickets` schedule, without its minute's grace for a worker that has just finished.
    Case.objects.exclude(ticket=Case.Ticket.FILED).update(finished_at=timezone.now() - timedelta(minutes=5))
    tickets.retry_pending_tickets()
    sandbox.clear_faults()

    states = Counter(Case.objects.values_list("state", flat=True))
    tickets = Counter(Case.objects.values_list("ticket", flat=True))
    issues = Counter(label for issue in sandbox.jira_issues() for label in issue["fields"]["labels"])
    labels = [case.label for case in Case.objects.all()]
    users = [sandbox.okta_user(uid) for uid in user_ids]
    changes = Counter(
        f"{r['method']} {r['path']}"
        for r in sandbox.requests("okta")
        if r["method"] != "GET" and not r["path"].startswith("/oauth2")
    )
    result = {
        "cases": cases,
        "kills": done_kills,
        "seconds": round(time.monotonic() - started, 1),
        "states": dict(states),
        "tickets": dict(tickets),
        "cases_without_one_ticket": [label for label in labels if issues[label] != 1],
        "users_not_deprovisioned": [u["id"] for u in users if u["status"] != "DEPROVISIONED"],
        "users_with_okta_groups": [u["id"] for u in users if any(g["type"] == "OKTA_GROUP" for g in u["groups"])],
        "okta_changes": sum(changes.values()),
        "okta_changes_repeated": sum(n - 1 for n in changes.values()),
        "audit_chain": AuditEvent.verify_chain()[1],
        "audit_chain_intact": AuditEvent.verify_chain()[0],
        "termination_date": dates_chosen(left, ["UTC"], "ended in the leavers' zone (the day before today there)"),
    }
    # The changes in flight when a worker died may be sent again (Okta treats them as done): at most one
    # batch of removals (REVOCATION_PARALLEL_CALLS) or one other change per worker per kill.
    result["ok"] = (
        states == Counter({Case.State.COMPLETED: cases})
        and tickets == Counter({Case.Ticket.FILED: cases})
        and not result["cases_without_one_ticket"]
        and not result["users_not_deprovisioned"]
        and not result["users_with_okta_groups"]
        and result["okta_changes_repeated"] <= done_kills * workers * calls_in_flight
        and result["audit_chain_intact"]
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=700)  # enough to last the 60 kills
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    load = MachineLoad()

    from benchmarks.stack import Stack

    extra = {"REVOCATION_LEASE_SECONDS": "3", "CLIENT_BACKOFF_INITIAL": "0.01", "CLIENT_BACKOFF_MAX": "0.05"}
    with Stack(args.database, workers=args.workers, extra_env=extra) as stack:
        from django.conf import settings
        from django.contrib.auth.models import Group, User

        from offboarding.models import SafetySettings
        from sandbox.control import Sandbox

        approver = User.objects.create_user("soak-approver")
        approver.groups.add(Group.objects.get_or_create(name="approvers")[0])
        # Hundreds of leavers in one sync would trip the breaker; that pauses rules only, and we approve by hand.
        SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_count": 10 * args.cases})

        def start_cluster() -> subprocess.Popen:
            return stack.start_cluster()[0]

        result = soak(
            Sandbox(stack.sandbox_url),
            start_cluster,
            approver,
            cases=args.cases,
            kills=args.kills,
            seed=args.seed,
            workers=args.workers,
            calls_in_flight=settings.REVOCATION_PARALLEL_CALLS,
            timeout=args.timeout,
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
    print(json.dumps({"benchmark": "soak", "database": args.database, **result, "machine": load.report()}, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
