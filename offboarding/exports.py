"""The auditors' exports: every case the history finds, as CSV or JSON, streamed.

The columns are defined once, in COLUMNS: their names and order, how Python writes each CSV cell,
and how PostgreSQL writes the same cell (its CSV is written by the database, with COPY).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import groupby, islice
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.contrib.postgres.aggregates import StringAgg
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.db.models import Count, F, Func, OuterRef, Q, QuerySet, Subquery, TextField, Value, When
from django.db.models.expressions import CombinedExpression, OrderBy
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Concat, NullIf, Ord
from django.db.models.lookups import In
from django.urls import reverse

from offboarding.models import Approval, Case, FollowUp, jira_browse_prefix, jira_browse_url, time_to_revoke

# A spreadsheet treats a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def as_text(value: str) -> str:
    """A text cell that a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def iso_or_empty(value: date | datetime | None) -> str:
    return value.isoformat() if value else ""


# What an export row reads, in this order: plain values, no model instances and no large JSON (the raw Workday
# row, the plan); the moments as the time since EPOCH (see `since_epoch`) and the approvers one a row.
EXPORT_FIELDS = [
    "id",
    "kind",
    "state",
    "termination__employee_id",
    "termination__name",
    "termination__email",
    "okta_user_id",
    "okta_login",
    "termination__department",
    "termination__category",
    "termination__termination_date",
    "decided_by__username",
    "decided_by_rule_id",
    "decided_by_rule__name",
    "decided_since",
    "effective_since",
    "revoked_since",
    "finished_since",
    "jira_key",
    "emergency_name",
    "follow_ups_open",
    "oldest_open_follow_up",
    "approvals__user__username",
]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK = 2000


def since_epoch(field: str) -> CombinedExpression:
    """A moment as the time since EPOCH, which `from_epoch` turns back into the same instant, in UTC.

    Django reads a PostgreSQL timestamp through a loader written in Python: 145 ms for the four moments of
    10,000 cases. The same moments as intervals come through psycopg's compiled loader in 22 ms.
    """
    return F(field) - Value(EPOCH)


def from_epoch(since: timedelta | None) -> datetime | None:
    return None if since is None else EPOCH + since


def open_follow_ups() -> QuerySet[FollowUp]:
    """The open follow-ups of the case a subquery is about."""
    return FollowUp.objects.filter(case=OuterRef("pk"), status=FollowUp.Status.OPEN).order_by()


def follow_ups_open_sql() -> Coalesce:
    """How many of the case's follow-ups are open (0 for none)."""
    counted = open_follow_ups().values("case").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted), 0)


def oldest_open_follow_up_sql() -> Subquery:
    """When the case's oldest open follow-up was opened (its age is the time since), or NULL."""
    return Subquery(open_follow_ups().order_by("opened_at").values("opened_at")[:1])


def export_rows(cases: QuerySet[Case]) -> Iterator[tuple]:
    """One tuple per case, its values in the order of COLUMNS, the same in CSV and JSON.

    One query, read a few thousand rows at a time: a year of cases never sits in memory at once. A case
    approved by several people comes as several rows in a row, one per approval in the order given.
    """
    evidence_url = settings.SITE_URL + reverse("evidence", args=[0]).replace("/0/", "/{}/")
    moments = {f"{name}_since": since_epoch(f"{name}_at") for name in ("decided", "effective", "revoked", "finished")}
    values = (
        cases.annotate(
            emergency_name=KT("plan__user__name"),
            follow_ups_open=follow_ups_open_sql(),
            oldest_open_follow_up=oldest_open_follow_up_sql(),
            **moments,
        )
        .values_list(*EXPORT_FIELDS)
        # Every sort ends with the id, so a case's rows come together.
        .order_by(*cases.query.order_by, "approvals__at", "approvals__id")
    )
    for _, same_case in groupby(values.iterator(chunk_size=CHUNK), key=itemgetter(0)):
        first, *more = same_case
        (
            case_id,
            kind,
            state,
            employee_id,
            name,
            email,
            okta_user_id,
            okta_login,
            department,
            category,
            termination_date,
            username,
            rule_id,
            rule_name,
            decided_since,
            effective_since,
            revoked_since,
            finished_since,
            jira_key,
            emergency_name,
            follow_ups_open,
            oldest_open_follow_up,
            approver,
        ) = first
        # As Case.person_name, Case.time_to_revoke and Case.jira_url.
        took = time_to_revoke(effective_since, revoked_since)
        yield (
            case_id,
            kind,
            state,
            employee_id or "",
            name or emergency_name or okta_login or "",
            email or "",
            okta_user_id,
            okta_login,
            department or "",
            category or "",
            termination_date,
            f"rule:{rule_id} {rule_name}" if rule_id else username or "",
            [approver, *(row[-1] for row in more)] if approver is not None else [],
            from_epoch(decided_since),
            from_epoch(effective_since),
            from_epoch(revoked_since),
            from_epoch(finished_since),
            took.total_seconds() if took is not None else None,
            jira_key,
            jira_browse_url(jira_key),
            evidence_url.format(case_id),
            follow_ups_open,
            oldest_open_follow_up,
        )


def csv_header() -> str:
    # The byte order mark makes Excel read the file as UTF-8 (names such as Zoë Müller).
    return "\ufeff" + ",".join(COLUMN_NAMES) + "\r\n"


def csv_lines(rows: Iterable[tuple]) -> Iterator[str]:
    """The CSV document, CHUNK rows a piece."""
    yield csv_header()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    rows = iter(rows)
    while chunk := list(islice(rows, CHUNK)):
        writer.writerows(map(csv_cells, chunk))
        yield taken(buffer)


def taken(buffer: io.StringIO) -> str:
    """What was written to `buffer`, which is left empty."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def json_chunks(rows: Iterable[tuple], header: dict[str, Any]) -> Iterator[str]:
    """One JSON document, `{...header, "cases": [...]}`, written one case at a time."""
    opening = json.dumps({**header, "cases": []}, cls=DjangoJSONEncoder)
    yield opening[:-2] + "\n"
    for number, row in enumerate(rows):
        yield ("" if number == 0 else ",\n") + json.dumps(
            dict(zip(COLUMN_NAMES, row, strict=True)), cls=DjangoJSONEncoder
        )
    yield "\n]}\n"


# --- The CSV export written by PostgreSQL ----------------------------------------------------------------
#
# Python takes about 200 ms over 10,000 rows (reading 210,000 values, building the rows, formatting the cells,
# the csv module); PostgreSQL writes them itself with COPY in less. Each cell is what `csv_cells` makes of the
# same case, in SQL (`Column.sql`), and the SELECT is the history query itself, so the rows and their order cannot
# differ. tests/test_exports.py holds the two to the same bytes; SQLite and the JSON export keep Python's.


def csv_text(text: F | Func) -> NullIf:
    """`as_text` in SQL, with an empty text as NULL: COPY writes NULL as an empty cell, and '' as \"\"."""
    guarded = models.Case(
        When(
            In(Ord(text), [ord(c) for c in FORMULA_TRIGGERS]), then=Concat(Value("'"), text, output_field=TextField())
        ),
        default=text,
        output_field=TextField(),
    )
    return NullIf(guarded, Value(""), output_field=TextField())


class IsoDay(Func):
    """`date.isoformat()`."""

    template = "to_char(%(expressions)s, 'YYYY-MM-DD')"
    output_field = TextField()


class IsoMoment(Func):
    """`datetime.isoformat()` of the moment in UTC: the microseconds only when there are some."""

    template = (
        "replace(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'),"
        " '.000000+', '+')"
    )
    output_field = TextField()


class SecondsBetween(Func):
    """`max(end - start, timedelta(0)).total_seconds()` as `repr` writes the float; 0 when either is NULL.

    Both are the float nearest the exact number of seconds, and PostgreSQL, as Python, writes a float with the
    fewest digits that read back the same (its default, extra_float_digits = 1); only a whole number lacks
    Python's ".0".
    """

    template = "regexp_replace(GREATEST(extract(epoch FROM %(expressions)s), 0)::float8::text, '^[0-9]+$', '\\&.0')"
    arg_joiner = " - "
    output_field = TextField()


@dataclass(frozen=True)
class Column:
    """One column of the export: its name, its CSV cell in Python, and the same cell in SQL (on a case)."""

    name: str
    cell: Callable[[Any], Any]
    sql: Callable[[], Any]


def _text_column(name: str, field: str) -> Column:
    return Column(name, as_text, lambda: csv_text(F(field)))


def _moment_column(name: str) -> Column:
    return Column(name, iso_or_empty, lambda: IsoMoment(name))


def _approvers_sql() -> Subquery:
    # PostgreSQL aggregates once what the guard names three times.
    return Subquery(
        Approval.objects.filter(case=OuterRef("pk"))
        .order_by()
        .values("case")
        .annotate(names=csv_text(StringAgg("user__username", "; ", order_by=("at", "id"))))
        .values("names")
    )


def _name_sql() -> Any:
    return csv_text(
        Coalesce(
            NullIf("termination__name", Value("")),
            NullIf(KT("plan__user__name"), Value("")),
            NullIf("okta_login", Value("")),
            Value(""),
            output_field=TextField(),
        )
    )


def _decided_by_sql() -> Any:
    # The guard reads the first character only: "rule:…", the Jira site's and this site's address decide it.
    return models.Case(
        When(
            decided_by_rule__isnull=False,
            then=Concat(
                Value("rule:"),
                Cast("decided_by_rule_id", TextField()),
                Value(" "),
                "decided_by_rule__name",
                output_field=TextField(),
            ),
        ),
        default=csv_text(F("decided_by__username")),
    )


def _jira_url_sql() -> Any:
    return models.Case(
        When(
            ~Q(jira_key=""),
            then=Concat(Value(as_text(jira_browse_prefix())), "jira_key", output_field=TextField()),
        )
    )


def _evidence_url_sql() -> Any:
    before, after = reverse("evidence", args=[0]).split("/0/")
    return Concat(
        Value(as_text(f"{settings.SITE_URL}{before}/")),
        Cast("id", TextField()),
        Value(f"/{after}"),
        output_field=TextField(),
    )


def _seconds_sql() -> Any:
    return models.Case(
        When(revoked_at__isnull=False, effective_at__isnull=False, then=SecondsBetween("revoked_at", "effective_at"))
    )


COLUMNS: list[Column] = [
    Column("case_id", lambda v: v, lambda: F("id")),
    _text_column("kind", "kind"),
    _text_column("state", "state"),
    _text_column("employee_id", "termination__employee_id"),
    Column("name", as_text, _name_sql),
    _text_column("email", "termination__email"),
    _text_column("okta_user_id", "okta_user_id"),
    _text_column("okta_login", "okta_login"),
    _text_column("department", "termination__department"),
    _text_column("category", "termination__category"),
    Column("termination_date", iso_or_empty, lambda: IsoDay("termination__termination_date")),
    Column("decided_by", as_text, _decided_by_sql),
    Column("approvers", lambda names: as_text("; ".join(names)), _approvers_sql),
    _moment_column("decided_at"),
    _moment_column("effective_at"),
    _moment_column("revoked_at"),
    _moment_column("finished_at"),
    Column("time_to_revoke_seconds", lambda s: "" if s is None else s, _seconds_sql),
    _text_column("jira_key", "jira_key"),
    Column("jira_url", as_text, _jira_url_sql),
    Column("evidence_url", as_text, _evidence_url_sql),
    Column("follow_ups_open", lambda n: n, lambda: Cast(follow_ups_open_sql(), TextField())),
    Column("oldest_open_follow_up_at", iso_or_empty, lambda: IsoMoment(oldest_open_follow_up_sql())),
]
COLUMN_NAMES = [column.name for column in COLUMNS]
CELLS = [column.cell for column in COLUMNS]


def csv_cells(row: tuple) -> tuple:
    """An export row as CSV cells: every text guarded, days and moments in ISO 8601, None as an empty cell."""
    return tuple(cell(value) for cell, value in zip(CELLS, row, strict=True))


def sort_keys(cases: QuerySet[Case]) -> dict[str, OrderBy]:
    """The sort of `cases`, key by key, each named so that a query around it can sort by it again."""
    keys = {}
    for number, key in enumerate(cases.query.order_by):
        if isinstance(key, str):
            key = F(key[1:]).desc() if key.startswith("-") else F(key).asc()
        keys[f"sort_{number}"] = key
    return keys


def copy_statement(cases: QuerySet[Case]) -> str:
    """A COPY of `cases`, in their order, as `csv_cells(export_rows(cases))` writes them.

    The approvers come from a subquery per case, which PostgreSQL runs in its leading process only, and with
    it the whole SELECT list. So the history query formats every other cell (in parallel workers when the
    planner uses some, for a large export: twice as fast on two cores; not for 10,000 rows from the day index)
    and a query around it adds the approvers and sorts by the same keys, which costs nothing: PostgreSQL knows
    the rows come sorted by them.
    """
    quote = connection.ops.quote_name
    cells = {f"csv_{column.name}": column.sql() for column in COLUMNS}
    approvers = cells.pop("csv_approvers")
    keys = sort_keys(cases)
    inside = cases.annotate(**cells, **{name: key.expression for name, key in keys.items()})
    inside_sql, inside_params = inside.values_list("id", *cells, *keys).query.sql_with_params()
    # The approvers' subquery reads its case's id as "id" of the cases' table: so are the rows inside named.
    around = Case.objects.annotate(csv_approvers=approvers).query
    approvers_sql, approvers_params = around.get_compiler(connection=connection).compile(
        around.annotations["csv_approvers"]
    )
    columns = ", ".join(approvers_sql if column == "approvers" else quote(f"csv_{column}") for column in COLUMN_NAMES)
    order = ", ".join(
        f"{quote(name)} {'DESC' if key.descending else 'ASC'}"
        + (" NULLS LAST" if key.nulls_last else " NULLS FIRST" if key.nulls_first else "")
        for name, key in keys.items()
    )
    # Identifiers and the SQL Django compiled; every value is a parameter.
    select = f"SELECT {columns} FROM ({inside_sql}) AS {quote(Case._meta.db_table)} ORDER BY {order}"  # noqa: S608
    select = connection.ops.compose_sql(select, (*approvers_params, *inside_params))
    return f"COPY ({select}) TO STDOUT (FORMAT csv)"


# Beyond this the CSV written by PostgreSQL waits on disk rather than in memory: about 20,000 rows.
SPOOL_BYTES = 8 * 1024 * 1024
SPOOL_PIECE_BYTES = 512 * 1024


def postgres_csv(cases: QuerySet[Case]) -> tuple[int, Iterator[str]]:
    """The document `csv_lines(export_rows(cases))` writes, written by PostgreSQL, and its number of cases.

    The rows are all read before the first goes out, so their number is known for the audit event without
    counting the cases in a query of their own (about 35 ms at 100,000 cases).
    """
    # Closed by spooled_csv_lines once sent (an unnamed file: nothing is left behind should that never happen).
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    with connection.cursor() as cursor, cursor.copy(copy_statement(cases)) as copy:
        count = spool_rows(copy, spool)
    return count, spooled_csv_lines(spool)


def spool_rows(rows: Iterable[memoryview], spool: tempfile.SpooledTemporaryFile) -> int:
    """Write the rows COPY sends to `spool` as the csv module ends them; how many there were.

    One row at a time, each let go at once: a row is a memoryview, which the garbage collector tracks, and
    holding thousands of them set off a full collection (50 ms in a web process) every few exports.
    """
    count, piece = 0, bytearray()
    for row in rows:
        piece += row[:-1]  # COPY ends a row with "\n", the csv module with "\r\n"
        piece += b"\r\n"
        count += 1
        if len(piece) >= SPOOL_PIECE_BYTES:
            spool.write(piece)
            piece.clear()
    spool.write(piece)
    return count


def spooled_csv_lines(spool: tempfile.SpooledTemporaryFile) -> Iterator[str]:
    """The CSV header, then the rows `postgres_csv` spooled."""
    yield csv_header()
    spool.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()  # a piece may end inside a character
    with spool:
        while piece := spool.read(SPOOL_PIECE_BYTES):
            yield decoder.decode(piece)


def export(cases: QuerySet[Case], fmt: str, header: dict[str, Any]) -> tuple[int, Iterator[str]]:
    """How many cases there are, and the CSV or JSON document listing them, streamed.

    `header` heads the JSON document. On PostgreSQL the database writes the CSV.
    """
    if fmt == "csv" and connection.vendor == "postgresql":
        return postgres_csv(cases)
    rows = export_rows(cases)
    return cases.count(), csv_lines(rows) if fmt == "csv" else json_chunks(rows, header)
