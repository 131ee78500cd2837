"""The benchmarks' leavers are dated so that the day is over (or still to come) in every worker's zone at any
hour, or a benchmark started at the wrong hour waits for a local midnight instead of measuring."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from benchmarks.conditions import MachineLoad, day_begun_nowhere, day_ended_everywhere
from offboarding.models import SafetySettings, Termination
from sandbox.org import DEPARTMENTS
from tests.fake_clock import FakeClock

# The sandbox's workers' zones (what the benchmarks' people are in), and the two ends of the world.
SANDBOX_ZONES = sorted({zone for locations, _, _ in DEPARTMENTS.values() for _, zone in locations})
ZONES = [*SANDBOX_ZONES, "Pacific/Kiritimati", "Etc/GMT+12", "UTC"]
START = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
# Every half hour of two days, DST changes aside (none falls in them).
HALF_HOURS = range(0, 96)


def moments(mode: str, day, zone: str) -> datetime:
    return Termination(termination_date=day, time_zone=zone).effective_moment(mode)


class TestBenchmarkDates:
    @pytest.mark.parametrize("mode", SafetySettings.EffectiveMode.values)
    def test_the_day_chosen_is_over_in_every_zone_at_any_hour(self, mode):
        clock = FakeClock(now=START)
        for _ in HALF_HOURS:
            now = datetime.fromtimestamp(clock.time(), UTC)
            day = day_ended_everywhere(ZONES, clock.time)
            late = [zone for zone in ZONES if moments(mode, day, zone) > now]
            assert late == [], f"at {now:%H:%M} UTC, {day} is not over in {late}"
            clock.advance(1800)

    def test_it_is_the_latest_such_day(self):
        clock = FakeClock(now=START + 3 * 3600)  # 03:00 UTC: still November 30th in the Americas
        assert day_ended_everywhere(SANDBOX_ZONES, clock.time).isoformat() == "2026-11-29"
        clock.advance(6 * 3600)  # 09:00 UTC: December 1st everywhere they work
        assert day_ended_everywhere(SANDBOX_ZONES, clock.time).isoformat() == "2026-11-30"

    def test_the_day_to_come_has_begun_nowhere_at_any_hour(self):
        clock = FakeClock(now=START)
        for _ in HALF_HOURS:
            now = datetime.fromtimestamp(clock.time(), UTC)
            day = day_begun_nowhere(ZONES, clock.time)
            begun = [z for z in ZONES if datetime.combine(day, datetime.min.time(), ZoneInfo(z)) <= now]
            assert begun == [], f"at {now:%H:%M} UTC, {day} has begun in {begun}"
            clock.advance(timedelta(minutes=30).total_seconds())

    def test_the_machines_load_is_reported(self):
        report = MachineLoad().report()
        assert report["cpus"] >= 1
        assert len(report["load_average_1_5_15_min_at_start"]) == 3
        assert all(n >= 0 for n in report["load_average_1_5_15_min_at_end"])
