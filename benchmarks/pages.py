"""Benchmark 3: the pages at scale.

Seeds 100,000 cases (with their terminations and steps) and 1,000,000 audit events into a fresh
PostgreSQL database, then reports p50/p95 server time and query count for the approvers' queue, a
history search with filters, a CSV export of 10,000 rows and an evidence page. Prints JSON.

    python benchmarks/pages.py [--cases 100000] [--events 1000000] [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.stack import Stack, percentile  # noqa: E402

DEPARTMENTS = ["Engineering", "Sales", "Finance", "People", "Support", "Marketing", "Legal", "Operations"]
UTC = ZoneInfo("UTC")


def seed(case_count: int, event_count: int) -> None:
    from django.conf import settings
    from django.contrib.auth.models import Group, User

    from offboarding.models import AuditChainHead, AuditEvent, AutoApproveRule, Case, Step, Termination

    approver = User.objects.create_user("approver")
    approver.groups.add(Group.objects.get(name="approvers"))
    rule = AutoApproveRule.objects.create(name="Contractors", worker_types=["Contingent Worker"])
    start = datetime(2024, 1, 1, tzinfo=UTC)
    batch = 5000
    for offset in range(0, case_count, batch):
        terminations, cases = [], []
        for n in range(offset, min(offset + batch, case_count)):
            left = (start + timedelta(hours=n * 6)).date()
            terminations.append(
                Termination(
                    employee_id=str(100000 + n),
                    name=f"Person {n}",
                    first_name="Person",
                    last_name=str(n),
                    email=f"person.{n}@acme.example",
                    termination_date=left,
                    category="Voluntary" if n % 3 else "Involuntary",
                    department=DEPARTMENTS[n % len(DEPARTMENTS)],
                    location="New York",
                    time_zone="America/New_York",
                    worker_type="Contingent Worker" if n % 9 == 8 else "Employee",
                    raw={"Employee_ID": str(100000 + n)},
                )
            )
        Termination.objects.bulk_create(terminations)
        for termination in terminations:
            n = int(termination.employee_id) - 100000
            effective = datetime.combine(termination.termination_date, datetime.min.time(), tzinfo=UTC)
            done = n < case_count - 200  # the newest are still open, as on a real queue
            cases.append(
                Case(
                    termination=termination,
                    state=Case.State.COMPLETED if done else Case.State.PENDING_REVIEW,
                    okta_user_id=f"00u{n:017d}",
                    okta_login=termination.email,
                    identity=Case.Identity.EXACT,
                    plan={"remove": [{"id": f"00g{g}", "name": f"Group {g}"} for g in range(5)], "keep": []},
                    effective_at=effective,
                    left_on=termination.termination_date,  # bulk_create does not call save()
                    decided_by_rule=rule if n % 9 == 8 and done else None,
                    decided_by=approver if n % 9 != 8 and done else None,
                    decided_at=effective if done else None,
                    started_at=effective if done else None,
                    revoked_at=effective + timedelta(minutes=5 + n % 300) if done else None,
                    finished_at=effective + timedelta(minutes=6 + n % 300) if done else None,
                    jira_key=f"SEC-{n + 1}" if done else "",
                    ticket=Case.Ticket.FILED if done else Case.Ticket.NOT_YET,
                    created_at=effective - timedelta(days=1),
                )
            )
        Case.objects.bulk_create(cases)
        Step.objects.bulk_create(
            Step(case=case, kind=kind, target=case.okta_user_id, status=Step.Status.DONE, attempts=1)
            for case in cases
            if case.state == Case.State.COMPLETED
            for kind in ("resolve", "snapshot", "clear_sessions", "deactivate", "verify")
        )
    case_ids = list(Case.objects.order_by("pk").values_list("pk", flat=True))
    per_case = max(1, event_count // len(case_ids))
    prev, seq, events = "0" * 64, 0, []
    at, key_id = start, next(iter(settings.AUDIT_KEYS))
    for case_id in case_ids:
        for k in range(per_case):
            seq += 1
            event = AuditEvent(
                seq=seq,
                at=at + timedelta(seconds=seq),
                actor_name="system:revocation",
                action=f"okta.step.{k}",
                case_id=case_id,
                object_repr=f"Case {case_id}",
                after={"k": k},
                request_id="",
                prev_hash=prev,
                key_id=key_id,
            )
            event.hash = event.compute_hash()
            prev = event.hash
            events.append(event)
            if len(events) >= 20000:
                AuditEvent.objects.bulk_create(events)
                events = []
    AuditEvent.objects.bulk_create(events)
    AuditChainHead.objects.update_or_create(pk=1, defaults={"last_seq": seq, "last_hash": prev})


def measure(client, url: str, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings, queries, status, size = [], [], 0, 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            timings.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured))
        status, size = response.status_code, len(body)
    return {
        "url": url,
        "status": status,
        "bytes": size,
        "p50_ms": round(percentile(timings, 0.5), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "queries": sorted(set(queries)),
    }


def run(case_count: int, event_count: int, runs: int) -> dict:
    with Stack("postgres", workers=1) as stack:
        from django.contrib.auth.models import User
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        from offboarding.models import Case

        started = time.monotonic()
        seed(case_count, event_count)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        seeded = time.monotonic() - started
        client = Client(SERVER_NAME="127.0.0.1")
        client.force_login(User.objects.get(username="approver"))
        evidence_case = Case.objects.filter(state=Case.State.COMPLETED).order_by("-pk").values_list("pk", flat=True)[0]
        year = date(2024, 1, 1)
        pages = {
            "queue": reverse("home"),
            "history_search": reverse("history")
            + "?department=Engineering&state=completed&category=Voluntary&left_from=2025-01-01&left_until=2025-12-31",
            "csv_export_10000": reverse("history_export", args=["csv"])
            + f"?left_from={year.isoformat()}&left_until={(year + timedelta(days=2499)).isoformat()}",
            "evidence": reverse("evidence", args=[evidence_case]),
        }
        results = {name: measure(client, url, runs) for name, url in pages.items()}
        export_rows = results["csv_export_10000"]["bytes"]
        return {
            "benchmark": "pages",
            "database": stack.database,
            "cases": case_count,
            "audit_events": event_count,
            "seed_s": round(seeded, 1),
            "pages": results,
            "csv_export_bytes": export_rows,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(run(args.cases, args.events, args.runs), indent=2))


if __name__ == "__main__":
    main()
