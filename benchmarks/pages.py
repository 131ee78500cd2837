"""Benchmark 3: the pages at scale.

Seeds cases (with their terminations and steps) and audit events into a fresh PostgreSQL database
(default 1,000,000 and 10,000,000: ten times the first version's figures; written with COPY), then reports
p50/p95 server time and query count for: the approvers' queue with each filter, the history with every
sort order and a matrix of filter combinations, the evidence page, the SLA page over twelve months, the
reconciliation page, the integrity page, and a CSV export of 100,000 rows (its rows per second, and the
process's peak memory before and after it: the export streams, so memory must not grow with the rows).
Prints JSON, with the machine's load.

    python benchmarks/pages.py [--cases 1000000] [--events 10000000] [--runs 20] [--export-rows 100000]
        [--keep NAME | --reuse NAME] [--only SUBSTRING ...]

--keep NAME seeds into a new database NAME and leaves it there; --reuse NAME measures it again without
seeding (after `migrate`, so indexes added since apply, and VACUUM ANALYZE), or a copy of it (`createdb -T NAME`).
A reused database's cases end on the day it was seeded. --only measures the pages whose names contain one
of the substrings (the export is "csv_export").
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import resource
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from benchmarks.bulk_copy import Indexes, TableCopy, load_tables  # noqa: E402
from benchmarks.conditions import MachineLoad  # noqa: E402
from benchmarks.stack import Stack, database_exists, percentile  # noqa: E402

DEPARTMENTS = ["Engineering", "Sales", "Finance", "People", "Support", "Marketing", "Legal", "Operations"]
UTC = ZoneInfo("UTC")


def seed(case_count: int, event_count: int, dsn: str) -> dict[str, float]:
    """Write the cases (with their terminations and steps) and the audit events with COPY: the cases on one
    connection and the events on another, each in a process of its own (the events' seals are a chain, computed
    one after the other, so that process is the longer). The tables' indexes are rebuilt after their rows.
    Returns when each part was done, in seconds from the start."""
    from django.apps import apps
    from django.contrib.auth.models import Group, User
    from django.db import connections

    from offboarding.models import AuditChainHead, AuditEvent, AutoApproveRule, Case, Step, Termination

    started, done = time.monotonic(), {}
    approver = User.objects.create_user("approver")
    approver.groups.add(Group.objects.get(name="approvers"))
    rule = AutoApproveRule.objects.create(name="Contractors", worker_types=["Contingent Worker"])
    copies = {name: TableCopy.of(apps.get_model("offboarding", name), columns) for name, columns in COLUMNS.items()}
    connections.close_all()  # the processes below open their own
    with psycopg.connect(dsn, autocommit=True) as conn:
        indexes = Indexes.read(conn, [copy.table for copy in copies.values()])
        indexes.drop(conn)
    cases = [
        (copies["Termination"], terminations(case_count)),
        (copies["Case"], cases_rows(case_count, approver.pk, rule.pk)),
        (copies["Step"], steps(case_count)),
    ]
    events = [(copies["AuditEvent"], events_rows(case_count, event_count))]
    fork = multiprocessing.get_context("fork")
    processes = [fork.Process(target=load_tables, args=(dsn, loads, indexes)) for loads in (cases, events)]
    for process in processes:
        process.start()
    for part, process in zip(("cases, terminations, steps", "events"), processes, strict=True):
        process.join()
        if process.exitcode:
            raise RuntimeError(f"a seeding process failed (exit code {process.exitcode})")
        done[f"{part} (with their indexes)"] = round(time.monotonic() - started, 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        indexes.rebuild_foreign_keys(conn)
    done["foreign keys"] = round(time.monotonic() - started, 1)
    reset_sequences(Termination, Case, Step, AuditEvent)
    last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
    AuditChainHead.objects.update_or_create(pk=1, defaults={"last_seq": last["seq"], "last_hash": last["hash"]})
    check_seals([1, case_count // 2, case_count])
    return done


# The columns each seeded row sets, by model (every other column keeps its field's default).
COLUMNS = {
    "Termination": ["id", "employee_id", "name", "first_name", "last_name", "email", "termination_date", "category"]
    + ["reason", "department", "location", "time_zone", "worker_type", "raw"],
    "Case": ["id", "termination", "state", "okta_user_id", "okta_login", "identity", "plan", "effective_at"]
    + ["left_on", "decided_by_rule", "decided_by", "decided_at", "started_at", "revoked_at", "revoke_seconds"]
    + ["finished_at", "failure_summary", "jira_key", "ticket", "created_at"]
    + ["sort_name", "department", "category", "search_text"],
    "Step": ["id", "case", "kind", "target", "status", "attempts"],
    "AuditEvent": ["id", "seq", "at", "actor_name", "action", "case", "object_repr", "after", "request_id"]
    + ["prev_hash", "hash", "key_id"],
}
STEP_KINDS = ("resolve", "snapshot", "clear_sessions", "deactivate", "verify")
OPEN_CASES = 200  # the newest are still open, as on a real queue
PLAN = json.dumps({"remove": [{"id": f"00g{g}", "name": f"Group {g}"} for g in range(5)], "keep": []})


def terminations(case_count: int) -> Iterator[tuple]:
    start, every = first_moment(case_count)
    for n in range(case_count):
        employee = str(100000 + n)
        yield (
            n + 1,
            employee,
            f"Person {n}",
            "Person",
            str(n),
            f"person.{n}@acme.example",
            (start + every * n).date(),
            "Voluntary" if n % 3 else "Involuntary",
            "Resignation",
            DEPARTMENTS[n % len(DEPARTMENTS)],
            "Remote",
            "UTC",
            "Contingent Worker" if n % 9 == 8 else "Employee",
            json.dumps({"Employee_ID": employee}),
        )


def cases_rows(case_count: int, approver_id: int, rule_id: int) -> Iterator[tuple]:
    from offboarding.models import Case

    start, every = first_moment(case_count)
    for n in range(case_count):
        left = (start + every * n).date()
        effective = datetime.combine(left, datetime.min.time(), tzinfo=UTC)
        done = n < case_count - OPEN_CASES
        failed = done and n % 997 == 0
        revoked = done and not failed
        took = timedelta(minutes=5 + n % 300)
        yield (
            n + 1,
            n + 1,
            Case.State.FAILED if failed else Case.State.COMPLETED if done else Case.State.PENDING_REVIEW,
            f"00u{n:017d}",
            f"person.{n}@acme.example",
            Case.Identity.EXACT,
            PLAN,
            effective,
            left,  # COPY does not call save(), which keeps it
            rule_id if n % 9 == 8 and done else None,
            approver_id if n % 9 != 8 and done else None,
            effective if done else None,
            effective if done else None,
            effective + took if revoked else None,
            took.total_seconds() if revoked else None,  # kept by save(), as left_on
            effective + took + timedelta(minutes=1) if done else None,
            "Okta user NOT deactivated" if failed else "",
            f"SEC-{n + 1}" if done else "",
            Case.Ticket.FILED if done else Case.Ticket.NOT_YET,
            effective - timedelta(days=1),
            # Kept by save() from the termination, as left_on: the name shown, its department and category, and
            # what a person search reads (name, work email, Okta login, a line each).
            f"Person {n}",
            DEPARTMENTS[n % len(DEPARTMENTS)],
            "Voluntary" if n % 3 else "Involuntary",
            f"Person {n}\nperson.{n}@acme.example\nperson.{n}@acme.example",
        )


def steps(case_count: int) -> Iterator[tuple]:
    step_ids = itertools.count(1)
    for n in range(case_count - OPEN_CASES):
        for kind in STEP_KINDS:
            yield next(step_ids), n + 1, kind, f"00u{n:017d}", "done", 1


def events_rows(case_count: int, event_count: int) -> Iterator[tuple]:
    """`event_count` events, as many for each case, chained and sealed as the product seals them (HMAC under
    the first of AUDIT_KEYS)."""
    from django.conf import settings

    from offboarding.models import AuditEvent

    class Seal:
        """An event's sealed content and nothing else, sealed by the product's own code (`AuditEvent.content`
        and `compute_hash`) without building a model instance for each of ten million events."""

        __slots__ = ("seq", "at", "actor_name", "action", "case_id", "object_repr", "before", "after")
        __slots__ += ("request_id", "prev_hash", "key_id")
        content = AuditEvent.content
        compute_hash = AuditEvent.compute_hash

    per_case = max(1, event_count // case_count)
    first, _ = first_moment(case_count)
    seal = Seal()
    seal.actor_name, seal.before, seal.request_id = "system:revocation", None, ""
    seal.key_id, seal.prev_hash, seq = next(iter(settings.AUDIT_KEYS)), "0" * 64, 0
    # Each case's events are alike but for their place in the chain: their actions and payloads are made once.
    kinds = [(f"okta.step.{k}", {"k": k}, json.dumps({"k": k})) for k in range(per_case)]
    for case_id in range(1, case_count + 1):
        seal.case_id, seal.object_repr = case_id, f"Case {case_id}"
        for seal.action, seal.after, after in kinds:
            seq += 1
            seal.seq, seal.at = seq, first + timedelta(seconds=seq)
            prev_hash, seal.prev_hash = seal.prev_hash, seal.compute_hash()
            yield (
                *(seq, seq, seal.at, seal.actor_name, seal.action, case_id, seal.object_repr, after),
                *(seal.request_id, prev_hash, seal.prev_hash, seal.key_id),
            )
            if seq >= event_count:
                return


def check_seals(case_ids: list[int]) -> None:
    """The product's own check of a few cases' events, read back from the database: the seeded chain verifies."""
    from offboarding.models import AuditEvent, Case

    for case in Case.objects.filter(pk__in=case_ids):
        if not AuditEvent.verify_case(case):
            raise RuntimeError(f"the seeded events of case {case.pk} do not verify")


def reset_sequences(*models) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: kilobytes


def measure(client, url: str, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings, queries, status, size, lines = [], [], 0, 0, 0
    for _ in range(runs):
        # The log keeps the last 9,000 queries: once full, a capture's count would be 0 (it counts growth).
        connection.queries_log.clear()
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


def run(
    case_count: int,
    event_count: int,
    runs: int,
    export_rows: int,
    keep: str | None = None,
    reuse: str | None = None,
    only: tuple[str, ...] = (),
) -> dict:
    """Seed (into a new database, or into `keep`, kept) or `reuse` a seeded database, then measure the pages
    whose names contain one of `only` (all by default; the export is the page "csv_export")."""
    load = MachineLoad()
    with Stack("postgres", workers=1, kept=keep or reuse) as stack:
        from django.contrib.auth.models import User
        from django.db import connection
        from django.test import Client

        from offboarding.models import AuditChainHead, Case

        started, phases = time.monotonic(), {}
        if reuse:
            with connection.cursor() as cursor:
                # After the migrations Stack ran, which may have added indexes or rewritten every case (as 0023
                # did): VACUUM sets the visibility map again, as autovacuum would, or no scan is index-only.
                cursor.execute("VACUUM ANALYZE")
            case_count, event_count = Case.objects.count(), AuditChainHead.objects.get(pk=1).last_seq
        else:
            phases = seed(case_count, event_count, stack.env["DATABASE_URL"])
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        seeded = time.monotonic() - started
        client = Client(SERVER_NAME="127.0.0.1")
        client.force_login(User.objects.get(username="approver"))
        pages = {name: url for name, url in page_matrix(case_count).items() if wanted(name, only)}
        results = {name: measure(client, url, runs) for name, url in pages.items()}
        export = measure_export(client, min(export_rows, case_count), runs) if wanted("csv_export", only) else None
        slowest = max(results.items(), key=lambda item: item[1]["p95_ms"], default=None)
        return {
            "benchmark": "pages",
            "database": stack.database,
            "database_name": stack.pg_name if stack.kept else None,
            "reused": bool(reuse),
            "cases": case_count,
            "audit_events": event_count,
            "seed_s": None if reuse else round(seeded, 1),
            "seed_done_at_s": None if reuse else phases | {"vacuum analyze": round(seeded, 1)},
            "analyze_s": round(seeded, 1) if reuse else None,
            "dates": "the cases left evenly over the five years up to the seeding day: a fifth in the SLA's year",
            "machine": load.report(),
            "pages_measured": len(results),
            "pages_over_150ms_p95": sorted(name for name, r in results.items() if r["p95_ms"] >= 150),
            "slowest_page": {"name": slowest[0], **slowest[1]} if slowest else None,
            "csv_export": export,
            "pages": results,
        }


def wanted(name: str, only: tuple[str, ...]) -> bool:
    return not only or any(part in name for part in only)


def measure_export(client, export_rows: int, runs: int) -> dict:
    """The export of the first `export_rows` cases by termination date, streamed: its rows a second, and the
    process's peak memory before and after it."""
    from django.urls import reverse

    from offboarding.models import Termination

    days = Termination.objects.order_by("termination_date", "pk").values_list("termination_date", flat=True)
    query = {"left_from": days[0].isoformat(), "left_until": days[export_rows - 1].isoformat(), "sort": "left"}
    rss_before = peak_rss_mb()
    export = measure(client, reverse("history_export", args=["csv"]) + "?" + urlencode(query), max(3, runs // 5))
    seconds = export["p50_ms"] / 1000
    rows = export["lines"] - 1  # the header
    return export | {
        "rows": rows,
        "rows_per_second_p50": round(rows / seconds) if seconds else None,
        "peak_rss_mb_before": rss_before,
        "peak_rss_mb_after": peak_rss_mb(),
    }


# The cases left over the last five years, evenly, the newest today: whatever their number, the dates stay
# within the forms' bounds and the SLA's twelve months hold a fifth of them.
YEARS_OF_CASES = 5


def first_moment(case_count: int) -> tuple[datetime, timedelta]:
    every = timedelta(days=365 * YEARS_OF_CASES) / case_count
    return datetime.combine(date.today(), datetime.min.time(), tzinfo=UTC) - every * case_count, every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--export-rows", type=int, default=100_000)
    database = parser.add_mutually_exclusive_group()
    database.add_argument("--keep", metavar="NAME", help="seed into a new PostgreSQL database NAME and keep it")
    database.add_argument("--reuse", metavar="NAME", help="measure the database NAME, seeded by --keep (migrated)")
    parser.add_argument(
        "--only", metavar="SUBSTRING", action="append", default=[], help="measure only the pages named so (repeatable)"
    )
    args = parser.parse_args()
    if args.keep and database_exists(args.keep):
        parser.error(f"database {args.keep} exists: --reuse it, or drop it first")
    if args.reuse and not database_exists(args.reuse):
        parser.error(f"database {args.reuse} does not exist: seed it with --keep {args.reuse}")
    figures = run(args.cases, args.events, args.runs, args.export_rows, args.keep, args.reuse, tuple(args.only))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
