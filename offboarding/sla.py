"""How fast access went: time from the effective moment to revocation, against the target.

Percentiles use the nearest-rank method (the p-th percentile of n sorted values is
the value at rank ceil(p/100 * n)), so every figure is a time some case really took;
the median is the ordinary one (the mean of the two middle values when n is even).

The database computes every figure and count from the time kept on each case (`Case.revoke_seconds`): on
PostgreSQL its percentile aggregates over ranges of one covering index (migration 0022), on SQLite windows
that rank each case's time within its week or month.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connections, transaction
from django.db.models import Aggregate, Count, DateField, DateTimeField, F, FloatField, Max, Q, QuerySet, Value, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber, TruncMonth, TruncWeek
from django.utils import timezone

from offboarding.history import day_start
from offboarding.models import Case, FollowUp, SlaFigures

# Cases a person decided not to offboard, Workday called off, or with no Okta account have no revocation to measure.
NOT_MEASURED = (Case.State.REJECTED, Case.State.CANCELLED, Case.State.NO_ACCOUNT)
LISTED = 50
# What the page shows of a listed case (its person's name, when it should have gone and went, its state): not the
# termination's whole Workday record nor the rest of the case.
LISTED_FIELDS = ("effective_at", "revoked_at", "state", "plan", "okta_login", "termination__name")


@dataclass
class Figures:
    """The figures of one period (a week, a month or the whole range), as the database computed them."""

    start: date | None
    count: int = 0
    median: timedelta | None = None
    p95: timedelta | None = None
    worst: timedelta | None = None
    over_target: int = 0


def percentile(values: list[timedelta], p: int) -> timedelta | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    return sorted(values)[percentile_rank(len(values), p) - 1]


def percentile_rank(n: int, p: int) -> int:
    """The rank (1-based) of the p-th percentile of n values: ceil(p/100 * n), in whole numbers."""
    return max((p * n + 99) // 100, 1)


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _in_seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def middle(low: float, high: float) -> float:
    """The mean of the two middle values, computed as PostgreSQL's percentile_cont interpolates (low plus half
    the gap), so that both databases give the same figure to the last bit."""
    return low + 0.5 * (high - low)


# --- The periods ---------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A week, a month or the whole range: its label (`start`, None for the whole range) and the instants it
    covers within the range, [since, until), in the site's time zone."""

    kind: str
    start: date | None
    since: datetime
    until: datetime
    whole: bool = False  # a whole week or month (not cut by the range): its figures can be kept


def periods(since: date, until: date) -> list[Period]:
    """The whole range, then every week (from Monday) and every month it touches, each cut to the range."""
    first, last = day_start(since), day_start(until + timedelta(days=1))

    def cut(kind: str, start: date, end: date) -> Period:
        since, until = day_start(start), day_start(end)
        return Period(kind, start, max(since, first), min(until, last), whole=first <= since and until <= last)

    weeks, week = [], since - timedelta(days=since.weekday())
    while week <= until:
        weeks.append(cut("week", week, week + timedelta(days=7)))
        week += timedelta(days=7)
    months, month = [], since.replace(day=1)
    while month <= until:
        following = (month + timedelta(days=31)).replace(day=1)
        months.append(cut("month", month, following))
        month = following
    return [Period("overall", None, first, last), *weeks, *months]


def measured_figures(
    cases: QuerySet[Case], spans: list[Period], target: timedelta, edges: list[timedelta]
) -> tuple[dict[Period, Figures], dict[str, int]]:
    """The figures of each period in `spans` (the whole range first) that has revoked cases, and the `counts`.
    On PostgreSQL three passes over the period's cases, whatever their number: the counts with the whole range's
    figures, then every week, then every month. On SQLite (the zero-setup default), seven queries."""
    revoked = cases.filter(revoke_seconds__isnull=False).order_by()
    if connections[cases.db].vendor != "postgresql":
        return _figures_by_rank(revoked, spans, target), cases.aggregate(**counts(target, edges))
    whole, *parts = spans
    with transaction.atomic(using=cases.db), connections[cases.db].cursor() as cursor:
        cursor.execute(SORT_MEMORY)
        counted = cases.aggregate(**counts(target, edges), **figure_aggregates(target))
        figures = _kept_or_computed(revoked, parts, target, cursor)
    if counted["revoked"]:
        figures[whole] = _figures(whole, counted)
    return figures, counted


class PercentileDisc(Aggregate):
    """PostgreSQL's percentile_disc: the value at rank ceil(fraction × n) of the sorted values, the nearest rank."""

    function = "percentile_disc"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


class PercentileCont(PercentileDisc):
    """PostgreSQL's percentile_cont: interpolated between the two nearest ranks; at 0.5 the ordinary median."""

    function = "percentile_cont"


def figure_aggregates(target: timedelta) -> dict[str, Aggregate]:
    """A period's figures, as PostgreSQL aggregates them: the percentiles sort the period's times themselves
    (both the same sort), and ignore the cases not revoked, as the count and the worst do."""
    return {
        "revoked": Count("revoke_seconds"),
        "median": PercentileCont("revoke_seconds", fraction=0.5),
        "p95": PercentileDisc("revoke_seconds", fraction=0.95),
        "worst": Max("revoke_seconds"),
        "over_target": Count("pk", filter=Q(revoke_seconds__gt=target.total_seconds())),
    }


# The figures any database aggregates; the median and the 95th percentile need PostgreSQL's, or ranks.
PLAIN_FIGURES = ("revoked", "worst", "over_target")


def _figures(period: Period, row: dict) -> Figures:
    seconds = {name: _seconds(row[name]) for name in ("median", "p95", "worst")}
    return Figures(period.start, count=row["revoked"], over_target=row["over_target"], **seconds)


# Each week and each month is its own range of the SLA index (migration 0022), aggregated on its own: nothing
# sorts the cases by period first, and no expression is computed for each case to find its period.
PER_SPAN_SQL = """
SELECT span.n, figures.* FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS span(since, until, n)
CROSS JOIN LATERAL ({figures}) AS figures
WHERE figures.revoked > 0
"""
# Enough memory to sort a year's times without spilling to disk (about 200,000 of them take 10 MB).
SORT_MEMORY = "SET LOCAL work_mem = '32MB'"


def _figures_per_span(revoked: QuerySet[Case], spans: list[Period], target: timedelta, cursor) -> dict:
    aggregates = figure_aggregates(target)
    since, until = RawSQL("span.since", (), DateTimeField()), RawSQL("span.until", (), DateTimeField())
    one_span = (
        revoked.filter(effective_at__gte=since, effective_at__lt=until)
        .values(everything=Value(0))  # one group: the aggregate over all the span's cases
        .annotate(**aggregates)
        .values(*aggregates)
    )
    figures, params = one_span.query.sql_with_params()
    cursor.execute(PER_SPAN_SQL.format(figures=figures), ([s.since for s in spans], [s.until for s in spans], *params))
    columns = [column.name for column in cursor.description]
    found = {}
    for n, *row in cursor:
        span = spans[n - 1]
        found[span] = _figures(span, dict(zip(columns[1:], row, strict=True)))
    return found


# --- Whole weeks and months, kept (PostgreSQL) ------------------------------------

# Only one load at a time brings the kept figures up to date; a load that finds another at it computes its own.
KEEPING_LOCK = 0x51A_F16  # pg_try_advisory_xact_lock's key: "SLA figures"
# Take the changes noted in the periods' instants (migration 0024's trigger wrote them) and say which periods
# they fall in. The changes taken are those committed before this statement began; each is in the figures
# computed after it, and one committed later stays for the next load.
TAKE_CHANGES_SQL = """
WITH taken AS (DELETE FROM offboarding_slachange WHERE at >= %s AND at < %s RETURNING at)
SELECT span.n FROM unnest(%s::timestamptz[], %s::timestamptz[]) WITH ORDINALITY AS span(since, until, n)
WHERE EXISTS (SELECT 1 FROM taken WHERE taken.at >= span.since AND taken.at < span.until)
"""


def _kept_or_computed(revoked: QuerySet[Case], spans: list[Period], target: timedelta, cursor) -> dict:
    """The figures of each span: those of a whole week or month as kept, unless a case in it changed since they
    were computed; the rest computed now (the range's cut ends, the changed, the never computed), and the whole
    periods among them kept for the next load. Exact: a kept figure is one the database computed from the cases
    as they still are."""
    whole = [span for span in spans if span.whole]
    if not whole:
        return _figures_per_span(revoked, spans, target, cursor)
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [KEEPING_LOCK])
    if not cursor.fetchone()[0]:
        return _figures_per_span(revoked, spans, target, cursor)
    since, until = [span.since for span in whole], [span.until for span in whole]
    cursor.execute(TAKE_CHANGES_SQL, [min(since), max(until), since, until])
    changed = {whole[n - 1] for (n,) in cursor.fetchall()}
    by_instants = {(span.since, span.until): span for span in whole if span not in changed}
    kept = {
        span: row
        for row in SlaFigures.objects.filter(target_seconds=target.total_seconds(), since__in=since, until__in=until)
        if (span := by_instants.get((row.since, row.until)))
    }
    fresh = [span for span in spans if span not in kept]
    figures = _figures_per_span(revoked, fresh, target, cursor)
    SlaFigures.objects.bulk_create(
        [_to_keep(span, figures.get(span), target) for span in fresh if span.whole],
        update_conflicts=True,
        unique_fields=["since", "until", "target_seconds"],
        update_fields=["revoked", "median", "p95", "worst", "over_target", "computed_at"],
    )
    for span, row in kept.items():
        if row.revoked:  # its fields are named as the aggregates: read back as they are
            figures[span] = _figures(span, {name: getattr(row, name) for name in figure_aggregates(target)})
    return figures


def _to_keep(span: Period, figures: Figures | None, target: timedelta) -> SlaFigures:
    """A period's figures as kept; a period without a revoked case is kept too (as none), so is not computed again."""
    found = figures or Figures(span.start)
    return SlaFigures(
        since=span.since,
        until=span.until,
        target_seconds=target.total_seconds(),
        revoked=found.count,
        over_target=found.over_target,
        **{name: _in_seconds(getattr(found, name)) for name in ("median", "p95", "worst")},
    )


def _figures_by_rank(revoked: QuerySet[Case], spans: list[Period], target: timedelta) -> dict[Period, Figures]:
    """Where the database has no percentile aggregate: per grouping, one query counts and the other ranks each
    case's time within its period (a window) and keeps only the ranks wanted."""
    zone = timezone.get_current_timezone()
    groupings = {
        "overall": Value(None, output_field=DateField()),
        "week": TruncWeek("effective_at", output_field=DateField(), tzinfo=zone),
        "month": TruncMonth("effective_at", output_field=DateField(), tzinfo=zone),
    }
    by_start = {(span.kind, span.start): span for span in spans}
    figures = {}
    for kind, period in groupings.items():
        for start, found in _ranked(revoked.annotate(period=period), target).items():
            figures[by_start[kind, start]] = found
    return figures


def _ranked(cases: QuerySet[Case], target: timedelta) -> dict[Any, Figures]:
    # The count, worst and over-target as PostgreSQL's figures define them; the percentiles by rank below.
    plain = {name: aggregate for name, aggregate in figure_aggregates(target).items() if name in PLAIN_FIGURES}
    figures = {
        row["period"]: Figures(
            row["period"], count=row["revoked"], worst=_seconds(row["worst"]), over_target=row["over_target"]
        )
        for row in cases.values("period").annotate(**plain)
    }
    ranked = cases.annotate(
        rank=Window(RowNumber(), partition_by=[F("period")], order_by=[F("revoke_seconds").asc(), F("id").asc()]),
        n=Window(Count("id"), partition_by=[F("period")]),
    )
    # Median: the middle value, or the mean of the two middle ones; 95th percentile: rank ceil(0.95 n).
    low, high, p95 = (F("n") + 1) / 2, (F("n") + 2) / 2, (F("n") * 95 + 99) / 100
    middles: dict[Any, list[float]] = defaultdict(list)
    for key, rank, n, seconds in (
        ranked.filter(Q(rank=low) | Q(rank=high) | Q(rank=p95))
        .values_list("period", "rank", "n", "revoke_seconds")
        .order_by("period", "rank")
    ):
        if rank == percentile_rank(n, 95):
            figures[key].p95 = _seconds(seconds)
        if rank in ((n + 1) // 2, (n + 2) // 2):
            middles[key].append(seconds)
    for key, values in middles.items():
        figures[key].median = _seconds(middle(values[0], values[-1]))
    return figures


@dataclass
class Bar:
    label: str
    count: int
    over_target: bool
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0

    @property
    def middle(self) -> float:
        return round(self.x + self.width / 2, 1)

    @property
    def count_y(self) -> float:
        return round(self.y - 4, 1)


def measured_cases(since: date, until: date):
    """Cases whose access should have gone between the two days (inclusive), in the site's time zone."""
    return Case.objects.filter(
        effective_at__gte=day_start(since), effective_at__lt=day_start(until + timedelta(days=1))
    ).exclude(state__in=NOT_MEASURED)


def counts(target: timedelta, edges: list[timedelta]) -> dict[str, Count]:
    """What the page counts besides the figures, as aggregates the database computes in one pass over the
    period's cases: how they were decided, how many failed or need attention, how many are past the target
    and not revoked, and for the chart how many took at least each edge (one comparison a case and edge)."""
    late = timezone.now() - target
    decided = Q(decided_at__isnull=False)
    return {
        "by_rule": Count("pk", filter=decided & Q(decided_by_rule__isnull=False)),
        "by_person": Count("pk", filter=decided & Q(decided_by_rule=None)),
        "failed": Count("pk", filter=Q(state=Case.State.FAILED)),
        "needs_attention": Count("pk", filter=Q(state=Case.State.NEEDS_ATTENTION)),
        "overdue": Count("pk", filter=Q(revoke_seconds=None, effective_at__lt=late)),
        **{
            f"at_least_{i}": Count("pk", filter=Q(revoke_seconds__gte=edge.total_seconds()))
            for i, edge in enumerate(edges)
        },
    }


def first_listed(cases: QuerySet[Case], *order: Any) -> QuerySet[Case]:
    """The first cases in `order`, found from an index (the SLA index holds the ids) before any case row is read.
    Slowest first is "NULLS LAST", as the history's sort: the slowest index read backwards (migration 0015)."""
    ids = cases.order_by(*order).values("pk")[:LISTED]
    listed = Case.objects.filter(pk__in=ids).select_related("termination").order_by(*order)
    return listed.only(*LISTED_FIELDS)


def report(since: date, until: date, target_hours: float) -> dict:
    """Everything the SLA page shows, for cases effective between `since` and `until`."""
    target = timedelta(hours=target_hours)
    cases = measured_cases(since, until)
    spans = periods(since, until)
    edges = chart_edges(target)
    figures, counted = measured_figures(cases, spans, target, edges)
    over_target = cases.filter(revoke_seconds__gt=target.total_seconds())
    # Not revoked: no time to revoke (save() keeps it with revoked_at), which the SLA index holds and revoked_at not.
    overdue = cases.filter(revoke_seconds=None, effective_at__lt=timezone.now() - target)
    decided = counted["by_rule"] + counted["by_person"]
    # Whatever the period: work Okta left behind stays someone's until it is closed.
    open_follow_ups = FollowUp.objects.filter(status=FollowUp.Status.OPEN)
    return {
        "since": since,
        "until": until,
        "target": target,
        "overall": figures.get(spans[0], Figures(None)),
        "weeks": [figures[span] for span in spans if span.kind == "week" and span in figures],
        "months": [figures[span] for span in spans if span.kind == "month" and span in figures],
        "slowest": list(first_listed(over_target, F("revoke_seconds").desc(nulls_last=True), "-id")),
        "overdue": first_listed(overdue, "effective_at", "id"),
        "overdue_count": counted["overdue"],
        "auto_approved": counted["by_rule"],
        "human_approved": counted["by_person"],
        "auto_share": counted["by_rule"] / decided if decided else None,
        "failed": counted["failed"],
        "needs_attention": counted["needs_attention"],
        "chart": distribution_chart(edges, [counted[f"at_least_{i}"] for i in range(len(edges))], target),
        "follow_ups": open_follow_ups.select_related("case__termination").order_by("opened_at", "id")[:LISTED],
        "follow_ups_count": open_follow_ups.count(),
    }


# --- The chart -----------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BOTTOM = 720, 240, 24, 40


def bucket_label(low: timedelta, high: timedelta | None) -> str:
    def short(d: timedelta) -> str:
        minutes = round(d.total_seconds() / 60)
        return f"{minutes} min" if minutes < 60 else f"{minutes / 60:g} h"

    return f"≥ {short(low)}" if high is None else f"{short(low)}–{short(high)}" if low else f"< {short(high)}"


def chart_edges(target: timedelta) -> list[timedelta]:
    """Where the histogram's buckets of time to revoke begin, in order; they break at the target."""
    return sorted({timedelta(minutes=m) for m in (0, 15, 30, 60, 120)} | {target, 2 * target, timedelta(hours=24)})


def distribution_chart(edges: list[timedelta], at_least: list[int], target: timedelta) -> dict:
    """The histogram of the times to revoke, as bars ready to draw in SVG. `at_least` has, for each edge, how many
    cases took at least that long: a bucket [low, high) holds those at least `low` less those at least `high`."""
    bounds = [(low, edges[i + 1] if i + 1 < len(edges) else None) for i, low in enumerate(edges)]
    counts = [n - (at_least[i + 1] if i + 1 < len(at_least) else 0) for i, n in enumerate(at_least)]
    highest = max(counts, default=0) or 1
    slot = CHART_WIDTH / len(bounds)
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    bars = []
    for i, ((low, high), count) in enumerate(zip(bounds, counts, strict=True)):
        height = plot_height * count / highest
        bars.append(
            Bar(
                label=bucket_label(low, high),
                count=count,
                over_target=low >= target,
                x=round(i * slot + slot * 0.1, 1),
                y=round(CHART_TOP + plot_height - height, 1),
                width=round(slot * 0.8, 1),
                height=round(height, 1),
            )
        )
    target_x = round(next(i for i, (low, _) in enumerate(bounds) if low >= target) * slot, 1)
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "baseline": CHART_HEIGHT - CHART_BOTTOM,
        "target_x": target_x,
        "label_y": CHART_HEIGHT - CHART_BOTTOM + 18,
    }
