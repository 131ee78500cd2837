"""How the pages write times, durations, shares and states: one format everywhere."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from offboarding.models import ACTION_LABELS, Case, Step

register = template.Library()


def _zone(name: str):
    try:
        return zoneinfo.ZoneInfo(name) if name else timezone.get_default_timezone()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def written(value: datetime | str | None, zone: str = "", seconds: bool = False) -> str:
    """A time as every page writes it, "2026-12-01 06:19 UTC": in the site's zone, or in `zone` (a worker's)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return "—"
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    local = timezone.localtime(value, _zone(zone))
    clock = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    return f"{local:%Y-%m-%d} {clock} {local.tzname()}"


@register.filter
def moment(value: datetime | str | None, zone: str = "") -> str:
    """`{{ case.effective_at|moment }}` in the site's zone; `{{ …|moment:t.time_zone }}` in the worker's."""
    return written(value, zone)


@register.filter
def moment_exact(value: datetime | str | None) -> str:
    """The same, to the second (the evidence and the audit trail)."""
    return written(value, seconds=True)


@register.filter
def state_badge(case_or_state) -> str:
    """A case's state as a badge: its own colour and words, and its own mark before them (static/css/site.css)."""
    state = getattr(case_or_state, "state", case_or_state)
    return format_html('<span class="state state-{}">{}</span>', state, LABELS["state"].get(state, state))


# The stored values pages print, by the name a template asks for them by.
LABELS = {
    "state": dict(Case.State.choices),
    "kind": dict(Case.Kind.choices),
    "step": dict(Step.Kind.choices),
    "status": dict(Step.Status.choices),
    "action": ACTION_LABELS,
}


@register.filter
def label(value: str, of: str) -> str:
    """A stored value's label: `{{ finding.case_state|label:"state" }}` is "Pending review" (the value if unknown)."""
    return LABELS.get(of, {}).get(value, value)


@register.filter
def duration(value: timedelta | None) -> str:
    """A duration in words an auditor reads at a glance: "2 h 05 min", "45 s", "3 d 4 h"."""
    if value is None:
        return "—"
    seconds = round(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"
