"""How fast access went: time from the effective moment to revocation, against the target.

Percentiles use the nearest-rank method (the p-th percentile of n sorted values is
the value at rank ceil(p/100 * n)), so every figure is a time some case really took;
the median is the ordinary one (the mean of the two middle values when n is even).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from offboarding.history import day_start
from offboarding.models import Case, FollowUp, time_to_revoke

# Cases a person decided not to offboard, Workday called off, or with no Okta account have no revocation to measure.
NOT_MEASURED = (Case.State.REJECTED, Case.State.CANCELLED, Case.State.NO_ACCOUNT)
LISTED = 50


@dataclass
class Figures:
    """The figures of one period (a week, a month or the whole range)."""

    start: date | None
    durations: list[timedelta] = field(default_factory=list)
    target: timedelta = timedelta(hours=4)

    @property
    def count(self) -> int:
        return len(self.durations)

    @property
    def median(self) -> timedelta | None:
        return statistics.median(sorted(self.durations)) if self.durations else None

    @property
    def p95(self) -> timedelta | None:
        return percentile(self.durations, 95)

    @property
    def worst(self) -> timedelta | None:
        return max(self.durations, default=None)

    @property
    def over_target(self) -> int:
        return sum(1 for d in self.durations if d > self.target)


def percentile(values: list[timedelta], p: float) -> timedelta | None:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1]


def week_of(moment: datetime) -> date:
    """The Monday of the moment's week, in the site's time zone."""
    day = timezone.localtime(moment).date()
    return day - timedelta(days=day.weekday())


def month_of(moment: datetime) -> date:
    return timezone.localtime(moment).date().replace(day=1)


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
    overall = Figures(None, target=target)
    weeks: dict[date, Figures] = defaultdict(lambda: Figures(None, target=target))
    months: dict[date, Figures] = defaultdict(lambda: Figures(None, target=target))
    late: list[tuple[timedelta, int]] = []
    for case_id, effective_at, revoked_at in cases.filter(revoked_at__isnull=False).values_list(
        "id", "effective_at", "revoked_at"
    ):
        took = time_to_revoke(effective_at, revoked_at)
        overall.durations.append(took)
        weeks[week_of(effective_at)].durations.append(took)
        months[month_of(effective_at)].durations.append(took)
        if took > target:
            late.append((took, case_id))
    for start, figures in [*weeks.items(), *months.items()]:
        figures.start = start
    slowest_ids = [case_id for _, case_id in sorted(late, reverse=True)[:LISTED]]
    slowest = Case.objects.select_related("termination").in_bulk(slowest_ids)
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
        "slowest": [slowest[case_id] for case_id in slowest_ids],
        "overdue": overdue.select_related("termination").order_by("effective_at")[:LISTED],
        "overdue_count": overdue.count(),
        "auto_approved": decisions["by_rule"],
        "human_approved": decisions["by_person"],
        "auto_share": decisions["by_rule"] / decided if decided else None,
        "failed": states["failed"],
        "needs_attention": states["needs_attention"],
        "chart": distribution_chart(overall.durations, target),
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


def distribution_chart(durations: list[timedelta], target: timedelta) -> dict:
    """A histogram of the times to revoke, as bars ready to draw in SVG; buckets break at the target."""
    edges = sorted({timedelta(minutes=m) for m in (0, 15, 30, 60, 120)} | {target, 2 * target, timedelta(hours=24)})
    bounds = [(low, edges[i + 1] if i + 1 < len(edges) else None) for i, low in enumerate(edges)]
    counts = [sum(1 for d in durations if low <= d and (high is None or d < high)) for low, high in bounds]
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
