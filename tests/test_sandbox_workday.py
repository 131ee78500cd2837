"""The simulated Workday RaaS report, driven over HTTP."""

import re
from datetime import date, timedelta

import requests

from sandbox.workday import COLUMNS
from tests.openapi_specs import validate_workday_report

WORKDAY_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[+-]\d{2}:\d{2}$")


def report(sandbox, auth=None, url=None, format="json"):
    return requests.get(
        url or sandbox.workday_report_url,
        params={"format": format} if format else None,
        auth=auth or (sandbox.workday_user, sandbox.workday_password),
        timeout=10,
    )


def rows(sandbox):
    response = report(sandbox)
    assert response.status_code == 200
    return {row["Employee_ID"]: row for row in validate_workday_report(response.content)}


class TestReport:
    def test_it_returns_report_entries_with_the_agreed_columns(self, sandbox):
        entries = rows(sandbox)
        assert len(entries) == 4
        for row in entries.values():
            assert set(row) <= set(COLUMNS)
            assert WORKDAY_DATE.match(row["Termination_Date"])
            assert row["Is_Rescinded"] in ("0", "1")
            assert row["Termination_Category"] in ("Voluntary", "Involuntary")
            assert row["Worker_Type"] in ("Employee", "Contingent Worker")

    def test_it_answers_401_for_bad_credentials(self, sandbox):
        assert report(sandbox, auth=("ISU_Offboarding", "wrong")).status_code == 401
        assert requests.get(sandbox.workday_report_url, params={"format": "json"}, timeout=10).status_code == 401

    def test_it_answers_404_for_an_unknown_report(self, sandbox):
        url = sandbox.workday_report_url.replace("/Terminations", "/Hires")
        assert report(sandbox, url=url).status_code == 404

    def test_without_format_json_it_answers_xml(self, sandbox):
        response = report(sandbox, format=None)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/xml")
        assert response.text.startswith("<?xml") and "<wd:Report_Entry>" in response.text


class TestTerminationChanges:
    def test_it_shows_a_new_termination_for_a_known_worker(self, sandbox):
        worker = next(w for w in sandbox.workers() if w["employee_id"] not in rows(sandbox))
        in_two_weeks = date.today() + timedelta(days=14)
        sandbox.add_termination(worker["employee_id"], Termination_Date=in_two_weeks.isoformat())
        row = rows(sandbox)[worker["employee_id"]]
        assert row["Termination_Date"].startswith(in_two_weeks.isoformat())
        assert row["Worker"] == f"{worker['first_name']} {worker['last_name']}"
        assert row["Email_Work"] == worker["email"] and row["Is_Rescinded"] == "0"

    def test_an_immediate_termination_is_dated_today(self, sandbox):
        worker = next(w for w in sandbox.workers() if w["employee_id"] not in rows(sandbox))
        sandbox.add_termination(worker["employee_id"], Termination_Category="Involuntary")
        row = rows(sandbox)[worker["employee_id"]]
        assert row["Termination_Date"].startswith(date.today().isoformat())
        assert row["Termination_Category"] == "Involuntary"

    def test_a_person_unknown_to_workday_needs_a_name_and_a_date(self, sandbox):
        sandbox.add_termination("55001", Worker="Pat Doe", Termination_Date="2030-01-31", Email_Work="pat@acme.example")
        row = rows(sandbox)["55001"]
        assert row["Worker"] == "Pat Doe" and "Manager" not in row

    def test_a_correction_changes_the_row(self, sandbox):
        employee_id = next(iter(rows(sandbox)))
        sandbox.correct_termination(employee_id, Termination_Date="2031-03-01", Last_Day_of_Work="2031-02-28")
        row = rows(sandbox)[employee_id]
        assert row["Termination_Date"].startswith("2031-03-01") and row["Last_Day_of_Work"].startswith("2031-02-28")

    def test_a_rescind_flags_the_row(self, sandbox):
        employee_id = next(iter(rows(sandbox)))
        sandbox.rescind_termination(employee_id)
        assert rows(sandbox)[employee_id]["Is_Rescinded"] == "1"

    def test_dates_carry_the_tenant_offset_of_that_day(self, sandbox):
        employee_id = next(iter(rows(sandbox)))
        sandbox.correct_termination(employee_id, Termination_Date="2031-01-15")
        assert rows(sandbox)[employee_id]["Termination_Date"] == "2031-01-15-08:00"
        sandbox.correct_termination(employee_id, Termination_Date="2031-07-15")
        assert rows(sandbox)[employee_id]["Termination_Date"] == "2031-07-15-07:00"
