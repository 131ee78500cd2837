"""Benchmark 3: the pages at scale.

Seeds cases (with their terminations and steps) and audit events into a fresh PostgreSQL database
(default 1,000,000 and 10,000,000: ten times the first version's figures; written with COPY), then reports
p50/p95 server time and query count for: the approvers' queue with each filter, the history with every
sort order and a matrix of filter combinations, the evidence page, the SLA page over twelve months, the
reconciliation page, the integrity page, and a CSV export of 100,000 rows (its rows per second, and the
process's peak memory before and after it: the export streams, so memory must not grow with the rows).
Prints JSON, with the machine's load.

    python benchmarks/pages.py [--cases 1000000] [--events 10000000] [--runs 20] [--export-rows 100000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.conditions import MachineLoad  # noqa: E402
from benchmarks.stack import Stack, percentile  # noqa: E402

DEPARTMENTS = ["Engineering", "Sales", "Finance", "People", "Support", "Marketing", "Legal", "Operations"]
UTC = ZoneInfo("UTC")


def copy_objects(model, objects) -> int:
    """Write model instances (each with its primary key set) with PostgreSQL's COPY: bulk_create at ten
    million rows takes most of an hour; COPY, minutes. Fields are prepared as the ORM would prepare them."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    written = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        with raw.copy(f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
                written += 1
    return written


def reset_sequences(*models) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def seed(case_count: int, event_count: int) -> None:
    from django.conf import settings
    from django.contrib.auth.models import Group, User

    from offboarding.models import AuditChainHead, AuditEvent, AutoApproveRule, Case, Step, Termination

    approver = User.objects.create_user("approver")
    approver.groups.add(Group.objects.get(name="approvers"))
    rule = AutoApproveRule.objects.create(name="Contractors", worker_types=["Contingent Worker"])
    # Cases end where the benchmark's "today" is, whatever the day it runs: the last twelve months are full.
    start, every = first_moment(case_count)
    step_ids = itertools.count(1)

    def terminations():
        for n in range(case_count):
            left = (start + every * n).date()
            yield Termination(
                id=n + 1,
                employee_id=str(100000 + n),
                name=f"Person {n}",
                first_name="Person",
                last_name=str(n),
                email=f"person.{n}@acme.example",
                termination_date=left,
                category="Voluntary" if n % 3 else "Involuntary",
                reason="Resignation",
                department=DEPARTMENTS[n % len(DEPARTMENTS)],
                location="Remote",
                time_zone="UTC",
                worker_type="Contingent Worker" if n % 9 == 8 else "Employee",
                raw={"Employee_ID": str(100000 + n)},
            )

    def case_of(n: int) -> Case:
        left = (start + every * n).date()
        effective = datetime.combine(left, datetime.min.time(), tzinfo=UTC)
        done = n < case_count - 200  # the newest are still open, as on a real queue
        failed = done and n % 997 == 0
        took = timedelta(minutes=5 + n % 300)
        return Case(
            id=n + 1,
            termination_id=n + 1,
            state=Case.State.FAILED if failed else Case.State.COMPLETED if done else Case.State.PENDING_REVIEW,
            okta_user_id=f"00u{n:017d}",
            okta_login=f"person.{n}@acme.example",
            identity=Case.Identity.EXACT,
            plan={"remove": [{"id": f"00g{g}", "name": f"Group {g}"} for g in range(5)], "keep": []},
            effective_at=effective,
            left_on=left,  # COPY does not call save()
            sort_name=f"Person {n}",  # kept by save(), as left_on: the termination's name, department, category
            department=DEPARTMENTS[n % len(DEPARTMENTS)],
            category="Voluntary" if n % 3 else "Involuntary",
            search_text=f"Person {n}\nperson.{n}@acme.example\nperson.{n}@acme.example",
            decided_by_rule=rule if n % 9 == 8 and done else None,
            decided_by=approver if n % 9 != 8 and done else None,
            decided_at=effective if done else None,
            started_at=effective if done else None,
            revoked_at=effective + took if done and not failed else None,
            revoke_seconds=took.total_seconds() if done and not failed else None,  # kept by save(), as left_on
            finished_at=effective + took + timedelta(minutes=1) if done else None,
            failure_summary="Okta user NOT deactivated" if failed else "",
            jira_key=f"SEC-{n + 1}" if done else "",
            ticket=Case.Ticket.FILED if done else Case.Ticket.NOT_YET,
            created_at=effective - timedelta(days=1),
        )

    def steps():
        for n in range(case_count - 200):
            for kind in ("resolve", "snapshot", "clear_sessions", "deactivate", "verify"):
                yield Step(
                    id=next(step_ids), case_id=n + 1, kind=kind, target=f"00u{n:017d}", status="done", attempts=1
                )

    copy_objects(Termination, terminations())
    copy_objects(Case, (case_of(n) for n in range(case_count)))
    copy_objects(Step, steps())
    reset_sequences(Termination, Case, Step)

    per_case = max(1, event_count // case_count)
    chain = {"seq": 0, "prev": "0" * 64}
    key_id = next(iter(settings.AUDIT_KEYS))  # sealed as the product seals them (HMAC under AUDIT_KEY)
    first = start

    def events():
        for case_id in range(1, case_count + 1):
            for k in range(per_case):
                chain["seq"] += 1
                seq = chain["seq"]
                event = AuditEvent(
                    id=seq,
                    seq=seq,
                    at=first + timedelta(seconds=seq),
                    actor_name="system:revocation",
                    action=f"okta.step.{k}",
                    case_id=case_id,
                    object_repr=f"Case {case_id}",
                    after={"k": k},
                    request_id="",
                    prev_hash=chain["prev"],
                    key_id=key_id,
                )
                event.hash = event.compute_hash()
                chain["prev"] = event.hash
                yield event
                if seq >= event_count:
                    return

    copy_objects(AuditEvent, events())
    reset_sequences(AuditEvent)
    AuditChainHead.objects.update_or_create(pk=1, defaults={"last_seq": chain["seq"], "last_hash": chain["prev"]})


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: kilobytes


def measure(client, url: str, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings, queries, status, size, lines = [], [], 0, 0, 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            if response.streaming:
                size = lines = 0
                for chunk in response.streaming_content:  # never held whole
                    size, lines = size + len(chunk), lines + chunk.count(b"\n")
            else:
                size, lines = len(response.content), response.content.count(b"\n")
            timings.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured))
        status = response.status_code
    return {
        "url": url,
        "status": status,
        "bytes": size,
        "lines": lines,
        "p50_ms": round(percentile(timings, 0.5), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "queries": sorted(set(queries)),
    }


def page_matrix(case_count: int) -> dict[str, str]:
    """Every page the issue names: the queue with each filter, the history with each sort and a matrix of
    filter combinations, the evidence, SLA (twelve months), reconciliation and integrity pages."""
    from django.urls import reverse

    from offboarding import history
    from offboarding.models import Case

    today = date.today()
    year_ago = today - timedelta(days=365)
    queue_filters = {
        "none": {},
        "state_completed": {"state": "completed"},
        "state_failed": {"state": "failed"},
        "department": {"department": "Sales"},
        "category": {"category": "Involuntary"},
        "search_name": {"q": "Person 4242"},
        "search_login": {"q": "person.4242@"},
        "effective_range": {"effective_from": year_ago.isoformat(), "effective_to": today.isoformat()},
    }
    history_filters = {
        "department": {"department": "Engineering"},
        "state": {"state": "completed"},
        "category": {"category": "Voluntary"},
        "left_range": {"left_from": year_ago.isoformat(), "left_until": today.isoformat()},
        "decision_rule": {"decision": "rule"},
        "person": {"person": "person.4242"},
        "approver": {"approver": "approver"},
        "completed_range": {"completed_from": year_ago.isoformat(), "completed_until": today.isoformat()},
    }
    pages = {f"queue/{name}": reverse("home") + "?" + urlencode(q) for name, q in queue_filters.items()}
    for sort in history.SORTS:
        pages[f"history/sort {sort}"] = reverse("history") + "?" + urlencode({"sort": sort})
    for (a, qa), (b, qb) in itertools.combinations(history_filters.items(), 2):
        for sort in ("-opened", "-time_to_revoke"):
            pages[f"history/{a}+{b} sort {sort}"] = reverse("history") + "?" + urlencode({**qa, **qb, "sort": sort})
    pages["history/all filters"] = (
        reverse("history")
        + "?"
        + urlencode({k: v for q in history_filters.values() for k, v in q.items() if k != "person"})
    )
    evidence_case = Case.objects.filter(state=Case.State.COMPLETED).order_by("-pk").values_list("pk", flat=True)[0]
    pages["evidence"] = reverse("evidence", args=[evidence_case])
    pages["sla 12 months"] = reverse("sla")
    pages["reconciliation"] = reverse("reconciliation")
    pages["integrity"] = reverse("integrity")
    return pages


def run(case_count: int, event_count: int, runs: int, export_rows: int) -> dict:
    load = MachineLoad()
    with Stack("postgres", workers=1) as stack:
        from django.contrib.auth.models import User
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        started = time.monotonic()
        seed(case_count, event_count)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        seeded = time.monotonic() - started
        client = Client(SERVER_NAME="127.0.0.1")
        client.force_login(User.objects.get(username="approver"))
        results = {name: measure(client, url, runs) for name, url in page_matrix(case_count).items()}

        # The export: the first `export_rows` cases by termination date, streamed.
        first_day = termination_day(0, case_count)
        last_day = termination_day(export_rows - 1, case_count)
        url = (
            reverse("history_export", args=["csv"])
            + "?"
            + urlencode({"left_from": first_day.isoformat(), "left_until": last_day.isoformat(), "sort": "left"})
        )
        rss_before = peak_rss_mb()
        export = measure(client, url, max(3, runs // 5))
        seconds = export["p50_ms"] / 1000
        rows = export["lines"] - 1  # the header
        export.update(
            rows=rows,
            rows_per_second_p50=round(rows / seconds) if seconds else None,
            peak_rss_mb_before=rss_before,
            peak_rss_mb_after=peak_rss_mb(),
        )
        slowest = max(results.items(), key=lambda item: item[1]["p95_ms"])
        return {
            "benchmark": "pages",
            "database": stack.database,
            "cases": case_count,
            "audit_events": event_count,
            "seed_s": round(seeded, 1),
            "dates": "the cases left evenly over the five years up to today: a fifth in the SLA's year",
            "machine": load.report(),
            "pages_measured": len(results),
            "pages_over_150ms_p95": sorted(name for name, r in results.items() if r["p95_ms"] >= 150),
            "slowest_page": {"name": slowest[0], **slowest[1]},
            "csv_export": export,
            "pages": results,
        }


# The cases left over the last five years, evenly, the newest today: whatever their number, the dates stay
# within the forms' bounds and the SLA's twelve months hold a fifth of them.
YEARS_OF_CASES = 5


def first_moment(case_count: int) -> tuple[datetime, timedelta]:
    every = timedelta(days=365 * YEARS_OF_CASES) / case_count
    return datetime.combine(date.today(), datetime.min.time(), tzinfo=UTC) - every * case_count, every


def termination_day(n: int, case_count: int) -> date:
    start, every = first_moment(case_count)
    return (start + every * n).date()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--export-rows", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(run(args.cases, args.events, args.runs, args.export_rows), indent=2))


if __name__ == "__main__":
    main()
