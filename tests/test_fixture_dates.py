"""The tests' own dates (conftest's `leaver`, factories' `make_case`): a day in the past has ended in the worker's
zone and a day ahead is still to come, at every hour of the machine's UTC day, so the suite passes at any hour."""

from datetime import UTC, datetime, timedelta

import pytest

from offboarding.models import SafetySettings, Termination
from tests.factories import today_in

Mode = SafetySettings.EffectiveMode
ZONES = ["America/New_York", "Pacific/Honolulu", "UTC", "Asia/Tokyo", "Pacific/Kiritimati"]
# Every half hour of a day, and the hours that broke it: 00:00-05:00 UTC, before New York's day ends.
MOMENTS = [datetime(2026, 12, 2, tzinfo=UTC) + timedelta(minutes=30 * n) for n in range(48)]


def moment(time_zone: str, now: datetime, days_ahead: int, mode: str) -> datetime:
    day = today_in(time_zone, now) + timedelta(days=days_ahead)
    termination = Termination(
        employee_id="1", name="X", termination_date=day, last_day_of_work=day, time_zone=time_zone
    )
    return termination.effective_moment(mode)


class TestFixtureDates:
    @pytest.mark.parametrize("time_zone", ZONES)
    @pytest.mark.parametrize("mode", list(Mode))
    def test_yesterday_has_ended_in_the_workers_zone_at_every_hour(self, time_zone, mode):
        assert all(moment(time_zone, now, -1, mode) <= now for now in MOMENTS)

    @pytest.mark.parametrize("time_zone", ZONES)
    @pytest.mark.parametrize("mode", list(Mode))
    def test_tomorrow_is_still_to_come_at_every_hour(self, time_zone, mode):
        assert all(moment(time_zone, now, 1, mode) > now for now in MOMENTS)

    def test_at_half_past_two_utc_new_yorks_yesterday_is_two_utc_days_back(self):
        now = datetime(2026, 12, 2, 2, 30, tzinfo=UTC)
        assert today_in("America/New_York", now) - timedelta(days=1) == datetime(2026, 11, 30).date()
        assert moment("America/New_York", now, -1, Mode.END_OF_TERMINATION_DATE) == datetime(2026, 12, 1, 5, tzinfo=UTC)
