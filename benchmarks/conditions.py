"""What a benchmark's figures depend on besides the code, printed with them: how busy the machine was, and the
dates it gave its leavers, chosen to be over (or still to come) in every worker's time zone whatever the hour.

"Yesterday" in UTC is not over in America/Los_Angeles until 08:00 UTC: a termination dated then is not due
yet there, and the product rightly waits for the local midnight. So a benchmark asks for the day that has
ended everywhere its workers are (`day_ended_everywhere`) or the day that has begun nowhere yet.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def local_dates(zones: Iterable[str], clock: Callable[[], float] = time.time) -> list[date]:
    moment = datetime.fromtimestamp(clock(), UTC)
    return [moment.astimezone(ZoneInfo(zone)).date() for zone in set(zones)]


def day_ended_everywhere(zones: Iterable[str], clock: Callable[[], float] = time.time) -> date:
    """The latest date whose end has passed in every zone: the day before the earliest local date now."""
    return min(local_dates(zones, clock)) - timedelta(days=1)


def day_begun_nowhere(zones: Iterable[str], clock: Callable[[], float] = time.time) -> date:
    """The earliest date that has not begun in any zone: the day after the latest local date now."""
    return max(local_dates(zones, clock)) + timedelta(days=1)


def dates_chosen(day: date, zones: Iterable[str], how: str) -> dict:
    """What the output says of the dates: the day, and why it holds at any hour."""
    return {"day": day.isoformat(), "chosen_as": how, "zones": sorted(set(zones))}


def start_of_next_minute(clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait for the next clock minute: Okta's windows (and the sandbox's) are clock minutes, so two runs that
    begin at the same point of one spend their windows alike, and their efficiencies compare."""
    sleep(60 - clock() % 60)


class MachineLoad:
    """The load average when the benchmark began and when it ended, with the number of CPUs, for its output."""

    def __init__(self) -> None:
        self.at_start = self.now()

    @staticmethod
    def now() -> list[float]:
        return [round(n, 2) for n in os.getloadavg()]

    def report(self) -> dict:
        return {
            "cpus": os.cpu_count(),
            "load_average_1_5_15_min_at_start": self.at_start,
            "load_average_1_5_15_min_at_end": self.now(),
        }
