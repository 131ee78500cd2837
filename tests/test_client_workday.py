"""The Workday client against the simulated terminations report, over real HTTP."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from offboarding.clients.errors import AuthenticationFailed, MalformedResponse, TransientError
from offboarding.clients.workday import WorkdayClient, parse_workday_date

ADA = {
    "Worker": "Ada Lovelace",
    "First_Name": "Ada",
    "Last_Name": "Lovelace",
    "Email_Work": "ada.lovelace@example.com",
    "Termination_Date": "2026-11-30-08:00",
    "Last_Day_of_Work": "2026-11-27-08:00",
    "Termination_Category": "Involuntary",
    "Termination_Reason": "Misconduct",
    "Manager": "Charles Babbage",
    "Supervisory_Organization": "Analytical Engines",
    "Location": "London",
    "Time_Zone": "Europe/London",
    "Worker_Type": "Contingent Worker",
}


def by_id(terminations: list) -> dict:
    return {t.employee_id: t for t in terminations}


class TestFetchingTerminations:
    def test_it_returns_typed_terminations(self, workday: WorkdayClient, sandbox: Any) -> None:
        sandbox.add_termination("W9001", **ADA)
        report = workday.fetch_terminations()

        ada = by_id(report.terminations)["W9001"]
        assert (ada.name, ada.first_name, ada.last_name, ada.email) == (
            "Ada Lovelace",
            "Ada",
            "Lovelace",
            "ada.lovelace@example.com",
        )
        assert (ada.termination_date, ada.last_day_of_work) == (date(2026, 11, 30), date(2026, 11, 27))
        assert (ada.category, ada.reason, ada.manager) == ("Involuntary", "Misconduct", "Charles Babbage")
        assert (ada.department, ada.location, ada.time_zone) == ("Analytical Engines", "London", "Europe/London")
        assert ada.worker_type == "Contingent Worker" and not ada.rescinded
        assert ada.raw["Employee_ID"] == "W9001"
        assert report.row_errors == []

    @pytest.mark.sandbox(pending_terminations=4)
    def test_it_reads_the_seeded_pending_terminations(self, workday: WorkdayClient, sandbox: Any) -> None:
        report = workday.fetch_terminations()
        assert len(report.terminations) >= 4 and report.row_errors == []

    def test_it_sees_a_rescind(self, workday: WorkdayClient, sandbox: Any) -> None:
        sandbox.add_termination("W9002", **ADA)
        sandbox.rescind_termination("W9002")
        assert by_id(workday.fetch_terminations().terminations)["W9002"].rescinded

    def test_it_leaves_out_optional_columns_workday_omits(self, workday: WorkdayClient, sandbox: Any) -> None:
        sandbox.add_termination(
            "W9003", Worker="Bare Minimum", Termination_Date="2026-12-01", Time_Zone="America/New_York"
        )
        bare = by_id(workday.fetch_terminations().terminations)["W9003"]
        assert bare.last_day_of_work is None and bare.email == "" and bare.termination_date == date(2026, 12, 1)

    def test_it_maps_the_columns_through_the_setting(self, make_workday: Any, sandbox: Any, settings: Any) -> None:
        settings.WORKDAY_COLUMNS = settings.WORKDAY_COLUMNS | {"department": "Location", "location": "Manager"}
        sandbox.add_termination("W9004", **ADA)
        ada = by_id(make_workday().fetch_terminations().terminations)["W9004"]
        assert (ada.department, ada.location) == ("London", "Charles Babbage")


class TestBadRows:
    def test_it_reports_rows_it_cannot_understand_and_keeps_the_rest(
        self, workday: WorkdayClient, sandbox: Any
    ) -> None:
        sandbox.add_termination("W9010", **ADA)
        sandbox.add_termination("W9011", **(ADA | {"Employee_ID": ""}))
        sandbox.add_termination("W9012", **(ADA | {"Termination_Date": "30 Nov 2026"}))
        sandbox.add_termination("W9013", **(ADA | {"Time_Zone": "Mars/Olympus_Mons"}))
        sandbox.add_termination("W9014", **(ADA | {"Last_Day_of_Work": "yesterday"}))

        report = workday.fetch_terminations()

        assert "W9010" in by_id(report.terminations)
        assert not {"W9011", "W9012", "W9013", "W9014"} & set(by_id(report.terminations))
        reasons = {e.employee_id: e.reason for e in report.row_errors}
        assert reasons[""] == "missing Employee_ID or Contingent_Worker_ID"
        assert reasons["W9012"] == "unparseable Termination_Date: '30 Nov 2026'"
        assert reasons["W9013"] == "unknown time zone 'Mars/Olympus_Mons'"
        assert reasons["W9014"] == "unparseable Last_Day_of_Work: 'yesterday'"
        assert all(e.raw for e in report.row_errors)


class TestBrokenReports:
    def test_it_refuses_a_body_that_is_not_a_report(self, workday: WorkdayClient, sandbox: Any) -> None:
        sandbox.fault("workday", "malformed")
        with pytest.raises(MalformedResponse):
            workday.fetch_terminations()

    def test_it_refuses_a_report_cut_short(self, workday: WorkdayClient, sandbox: Any) -> None:
        sandbox.fault("workday", "truncated")
        with pytest.raises((MalformedResponse, TransientError)):
            workday.fetch_terminations()

    def test_it_retries_a_5xx_then_succeeds(self, workday: WorkdayClient, sandbox: Any) -> None:
        sandbox.add_termination("W9020", **ADA)
        sandbox.fault("workday", "error", status=500, count=2)
        assert "W9020" in by_id(workday.fetch_terminations().terminations)

    def test_it_gives_up_on_an_outage(self, workday: WorkdayClient, sandbox: Any) -> None:
        sandbox.fault("workday", "outage")
        with pytest.raises(TransientError):
            workday.fetch_terminations()

    def test_it_reports_bad_credentials(self, make_workday: Any, settings: Any) -> None:
        settings.WORKDAY_PASSWORD = "not-the-password"
        with pytest.raises(AuthenticationFailed) as caught:
            make_workday().fetch_terminations()
        assert caught.value.status == 401


class TestWorkdayDates:
    @pytest.mark.parametrize("text", ["2026-11-30-08:00", "2026-11-30+05:30", "2026-11-30Z", "2026-11-30"])
    def test_it_reads_the_date_part(self, text: str) -> None:
        assert parse_workday_date(text) == date(2026, 11, 30)

    @pytest.mark.parametrize("text", ["11/30/2026", "2026-13-01", "2026-11-30T10:00:00", ""])
    def test_it_refuses_anything_else(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_workday_date(text)
