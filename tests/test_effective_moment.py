"""The effective moment: computed in the worker's own time zone, stored in UTC."""

from datetime import UTC, date, datetime

import pytest

from offboarding.models import SafetySettings, Termination

Mode = SafetySettings.EffectiveMode


def termination(time_zone: str, last_day: date | None = None) -> Termination:
    return Termination(
        employee_id="1", name="X", termination_date=date(2026, 12, 1), last_day_of_work=last_day, time_zone=time_zone
    )


class TestEffectiveMoment:
    @pytest.mark.parametrize(
        ("time_zone", "expected"),
        [
            ("UTC", datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
            ("America/New_York", datetime(2026, 12, 2, 5, 0, tzinfo=UTC)),
            ("Asia/Tokyo", datetime(2026, 12, 1, 15, 0, tzinfo=UTC)),
            ("Asia/Kolkata", datetime(2026, 12, 1, 18, 30, tzinfo=UTC)),
            ("Pacific/Kiritimati", datetime(2026, 12, 1, 10, 0, tzinfo=UTC)),
        ],
    )
    def test_the_end_of_the_termination_date_in_the_workers_zone(self, time_zone, expected):
        assert termination(time_zone).effective_moment(Mode.END_OF_TERMINATION_DATE) == expected

    def test_a_worker_east_of_utc_loses_access_before_our_day_ends(self):
        tokyo = termination("Asia/Tokyo").effective_moment(Mode.END_OF_TERMINATION_DATE)
        assert tokyo < datetime(2026, 12, 2, tzinfo=UTC)
        assert tokyo.date() == date(2026, 12, 1)

    def test_the_start_of_the_termination_date(self):
        moment = termination("Europe/Berlin").effective_moment(Mode.START_OF_TERMINATION_DATE)
        assert moment == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)

    def test_the_end_of_the_last_day_of_work(self):
        moment = termination("Europe/London", last_day=date(2026, 11, 27)).effective_moment(
            Mode.END_OF_LAST_DAY_OF_WORK
        )
        assert moment == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)

    def test_across_a_daylight_saving_change(self):
        moment = Termination(
            employee_id="1", name="X", termination_date=date(2026, 3, 7), time_zone="America/New_York"
        ).effective_moment(Mode.END_OF_TERMINATION_DATE)
        assert moment == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
