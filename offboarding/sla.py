"""How fast access went: time from the effective moment to revocation, against the target.

Percentiles use the nearest-rank method (the p-th percentile of n sorted values is
the value at rank ceil(p/100 * n)), so every figure is a time some case really took;
the median is the ordinary one (the mean of the two middle values when n is even).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, DateField, F, IntegerField, Max, Q, QuerySet, Value, Window
from django.db.models.functions import RowNumber, TruncMonth, TruncWeek
from django.utils import timezone

from offboarding.history import day_start
from offboarding.models import Case, FollowUp

# Cases a person decided not to offboard, Workday called off, or with no Okta account have no revocation to measure.
NOT_MEASURED = (Case.State.REJECTED, Case.State.CANCELLED, Case.State.NO_ACCOUNT)
LISTED = 50


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


def period_figures(cases: QuerySet[Case], period: Any, target: timedelta) -> dict[Any, Figures]:
    """Count, median, 95th percentile, worst and over-target of the revoked `cases`, per `period` (an expression
    the cases are grouped by; a constant for the whole range). Two queries, whatever the number of cases: one
    groups, the other ranks each case's time within its period (a window) and keeps only the ranks wanted."""
    cases = cases.filter(revoke_seconds__isnull=False).annotate(period=period).order_by()
    figures = {
        row["period"]: Figures(row["period"], count=row["n"], worst=_seconds(row["worst"]), over_target=row["over"])
        for row in cases.values("period").annotate(
            n=Count("id"),
            worst=Max("revoke_seconds"),
            over=Count("id", filter=Q(revoke_seconds__gt=target.total_seconds())),
        )
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
        .order_by()
    ):
        if rank == percentile_rank(n, 95):
            figures[key].p95 = _seconds(seconds)
        if rank in ((n + 1) // 2, (n + 2) // 2):
            middles[key].append(seconds)
    for key, values in middles.items():
        figures[key].median = _seconds(sum(values) / len(values) if len(values) == 2 else values[0])
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


def report(since: date, until: date, target_hours: float) -> dict:
    """Everything the SLA page shows, for cases effective between `since` and `until`."""
    target = timedelta(hours=target_hours)
    cases = measured_cases(since, until)
    zone = timezone.get_current_timezone()
    overall = period_figures(cases, Value(0, output_field=IntegerField()), target).get(0, Figures(None))
    weeks = period_figures(cases, TruncWeek("effective_at", output_field=DateField(), tzinfo=zone), target)
    months = period_figures(cases, TruncMonth("effective_at", output_field=DateField(), tzinfo=zone), target)
    slowest = (
        cases.filter(revoke_seconds__gt=target.total_seconds())
        .select_related("termination")
        .order_by("-revoke_seconds", "-id")[:LISTED]
    )
    overdue = cases.filter(revoked_at=None, effective_at__lt=timezone.now() - target)
    decisions = cases.filter(decided_at__isnull=False).aggregate(
        by_rule=Count("id", filter=Q(decided_by_rule__isnull=False)),
        by_person=Count("id", filter=Q(decided_by_rule=None)),
    )
    states = cases.aggregate(
        failed=Count("id", filter=Q(state=Case.State.FAILED)),
        needs_attention=Count("id", filter=Q(state=Case.State.NEEDS_ATTENTION)),
    )
    decided = decisions["by_rule"] + decisions["by_person"]
    # Whatever the period: work Okta left behind stays someone's until it is closed.
    open_follow_ups = FollowUp.objects.filter(status=FollowUp.Status.OPEN)
    return {
        "since": since,
        "until": until,
        "target": target,
        "overall": overall,
        "weeks": [weeks[start] for start in sorted(weeks)],
        "months": [months[start] for start in sorted(months)],
        "slowest": list(slowest),
        "overdue": overdue.select_related("termination").order_by("effective_at")[:LISTED],
        "overdue_count": overdue.count(),
        "auto_approved": decisions["by_rule"],
        "human_approved": decisions["by_person"],
        "auto_share": decisions["by_rule"] / decided if decided else None,
        "failed": states["failed"],
        "needs_attention": states["needs_attention"],
        "chart": distribution_chart(cases, target),
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


def distribution_chart(cases: QuerySet[Case], target: timedelta) -> dict:
    """A histogram of the times to revoke, as bars ready to draw in SVG; buckets break at the target.
    The database counts each bucket, in one query."""
    edges = sorted({timedelta(minutes=m) for m in (0, 15, 30, 60, 120)} | {target, 2 * target, timedelta(hours=24)})
    bounds = [(low, edges[i + 1] if i + 1 < len(edges) else None) for i, low in enumerate(edges)]

    def within(low: timedelta, high: timedelta | None) -> Q:
        inside = Q(revoke_seconds__gte=low.total_seconds())
        return inside if high is None else inside & Q(revoke_seconds__lt=high.total_seconds())

    totals = cases.aggregate(**{f"b{i}": Count("id", filter=within(*bound)) for i, bound in enumerate(bounds)})
    counts = [totals[f"b{i}"] for i in range(len(bounds))]
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
