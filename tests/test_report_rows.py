"""Each Workday row on its own: any row becomes a termination or a recorded row error, never a failed sync;
multi-instance fields and contingent workers read as Workday serves them; row errors seen and alerted once."""

import itertools
import json
from datetime import date, timedelta

from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offboarding import sync
from offboarding.models import Case, ReportRowError, Termination

REPORTS = itertools.count()  # each generated report its own ids: a case, once audited, is never deleted


def week_ahead() -> str:
    return (date.today() + timedelta(days=7)).isoformat()


def row_error_of(employee_id: str) -> ReportRowError:
    return ReportRowError.objects.get(employee_id=employee_id)


class TestEachRowOnItsOwn:
    def test_a_lone_surrogate_is_a_row_error_and_the_other_rows_still_open_their_cases(self, leaver):
        leaver("E100")
        leaver("E200", "Ada", "Lovelace", Worker="Ada \ud800 Lovelace")
        result = sync.sync_workday()
        assert [c.termination.employee_id for c in Case.objects.select_related("termination")] == ["E100"]
        assert result.row_errors == 1
        error = row_error_of("E200")
        assert "surrogate" in error.reason
        assert error.raw["Worker"] == "Ada \ufffd Lovelace"  # stored, the surrogate replaced

    def test_the_poison_row_does_not_fail_the_next_poll_either(self, leaver):
        leaver("E200", "Ada", "Lovelace", Worker="Ada \udfff")
        sync.sync_workday()
        leaver("E100")
        assert len(sync.sync_workday().created) == 1
        assert ReportRowError.objects.count() == 1

    def test_a_control_character_in_a_name_is_a_row_error_naming_the_field(self, leaver):
        leaver("E100")
        leaver("E200", "Ada", "Lovelace", Last_Name="Love\x07lace")
        sync.sync_workday()
        assert "Last_Name contains a control character" in row_error_of("E200").reason
        assert Termination.objects.get().employee_id == "E100"

    def test_an_object_where_a_name_was_expected_is_a_row_error(self, leaver):
        leaver("E100")
        leaver("E200", "Ada", "Lovelace", Manager={"Descriptor": "Sofia Quinn"})
        sync.sync_workday()
        assert row_error_of("E200").reason == "Manager is not a plain value"
        assert Termination.objects.get().employee_id == "E100"

    def test_a_301_character_name_is_a_row_error(self, leaver):
        leaver("E100")
        leaver("E200", "Ada", "Lovelace", Worker="A" * 301)
        sync.sync_workday()
        assert row_error_of("E200").reason == "Worker is longer than 300 characters"

    def test_an_integer_too_long_to_read_is_a_row_error_not_a_broken_report(self, org, leaver):
        leaver("E100")
        (good,) = org.terminations()
        body = json.dumps({"Report_Entry": [good]})[:-2] + ', {"Employee_ID": ' + "9" * 5000 + "}]}"
        org.fault("workday", "malformed", body=body)
        result = sync.sync_workday()
        assert len(result.created) == 1
        assert "Employee_ID is longer than 64 characters" in ReportRowError.objects.get().reason

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def test_in_a_generated_report_every_good_row_becomes_its_case(self, org, data):
        hostile_text = st.sampled_from(
            ["\ud800", "a\udc00b", "x\x00y", "bell\x07", "\x1b[31mred", "Z" * 301, "A" * 100_000, "2026-02-30"]
        )
        hostile_value = hostile_text | st.lists(st.text(max_size=5), min_size=2, max_size=3) | st.just({"a": 1})
        columns = ["Employee_ID", "Worker", "Last_Name", "Termination_Date", "Time_Zone", "Is_Rescinded"]
        kinds = data.draw(st.lists(st.booleans(), min_size=1, max_size=8), label="good?")
        rows, good, prefix = [], set(), f"R{next(REPORTS)}-"
        for n, is_good in enumerate(kinds):
            row = {
                "Employee_ID": f"{prefix}{n}",
                "Worker": f"Person {n}",
                "Last_Name": "Hopper",
                "Termination_Date": week_ahead(),
                "Time_Zone": "UTC",
                "Is_Rescinded": "0",
            }
            if is_good:
                good.add(f"{prefix}{n}")
            else:
                row[data.draw(st.sampled_from(columns))] = data.draw(hostile_value)
            rows.append(row)
        org.clear_faults()
        org.fault("workday", "malformed", body=json.dumps({"Report_Entry": rows}))
        result = sync.sync_workday()
        opened = set(Termination.objects.filter(employee_id__startswith=prefix).values_list("employee_id", flat=True))
        assert good <= opened
        assert Case.objects.filter(termination__employee_id__in=good).count() == len(good)
        # The others: each a row error with its reason (this report's own; the last report's are resolved),
        # or, when the hostile value still makes a readable row, a termination of its own.
        assert result.row_errors <= len(rows) - len(good)
        errors = ReportRowError.objects.filter(resolved_at=None)
        assert errors.count() == result.row_errors and all(e.reason for e in errors)


class TestMultiInstanceFields:
    def test_a_multi_instance_field_is_read_as_its_primary_instance_the_first(self, leaver):
        leaver("E100", Email_Work=["zoe.muller@acme.example", "zoe@home.example"], Location=["New York", "Remote"])
        sync.sync_workday()
        termination = Termination.objects.get()
        assert termination.email == "zoe.muller@acme.example"
        assert termination.location == "New York"

    def test_a_date_given_twice_alike_is_that_date(self, leaver):
        day = date.today() + timedelta(days=5)
        leaver("E100", Termination_Date=[day.isoformat(), day.isoformat()])
        sync.sync_workday()
        assert Termination.objects.get().termination_date == day

    def test_a_date_with_several_different_values_is_refused_naming_the_field(self, leaver):
        leaver("E100", Termination_Date=[week_ahead(), date.today().isoformat()])
        sync.sync_workday()
        assert not Case.objects.exists()
        assert ReportRowError.objects.get().reason.startswith("Termination_Date has 2 different values")

    def test_an_array_for_the_employee_id_is_refused_naming_the_field(self, org, leaver):
        leaver("E100")
        leaver("E200", "Ada", "Lovelace")
        org.correct_termination("E200", Employee_ID=["E200", "E201"])
        sync.sync_workday()
        assert Termination.objects.get().employee_id == "E100"
        assert ReportRowError.objects.get().reason.startswith("Employee_ID has several instances")


class TestContingentWorkers:
    def test_a_contingent_worker_is_matched_by_their_own_id(self, leaver):
        person = leaver("C-9001", "Kai", "Contractor", contingent=True, Worker_Type="Contingent Worker")
        result = sync.sync_workday()
        case = Case.objects.select_related("termination").get()
        assert result.created == [case.pk] and not result.row_errors
        assert case.termination.employee_id == "C-9001"
        assert case.identity == Case.Identity.EXACT
        assert case.okta_user_id == person["user_id"]

    def test_the_id_column_is_configurable(self, org, leaver, settings):
        settings.WORKDAY_COLUMNS = {**settings.WORKDAY_COLUMNS, "contingent_worker_id": "Employee_ID"}
        leaver("C-9002", "Kai", "Contractor", contingent=True)
        sync.sync_workday()
        # The tenant's contingent id column is now Employee_ID: the row carrying only Contingent_Worker_ID has none.
        assert ReportRowError.objects.get().reason == "missing Employee_ID or Employee_ID"

    def test_a_push_for_a_contingent_worker_reads_their_row(self, leaver):
        leaver("C-9003", "Kai", "Contractor", contingent=True)
        result = sync.sync_workday(employee_id="C-9003")
        assert len(result.created) == 1


class TestRowErrorsAreSeen:
    def test_a_poison_row_an_array_and_an_empty_id_are_recorded_alerted_once_listed_and_resolved_when_fixed(
        self, org, leaver, approver, mailoutbox, settings
    ):
        settings.ALERT_EMAILS = ["security@example.com"]
        leaver("E100")
        leaver("E200", "Ada", "Lovelace", Worker="Ada \ud800")
        leaver("E300", "Alan", "Turing", Termination_Date=[week_ahead(), date.today().isoformat()])
        leaver("E400", "Grace", "Hopper", Employee_ID="")
        result = sync.sync_workday()
        assert [c.termination.employee_id for c in Case.objects.select_related("termination")] == ["E100"]
        assert result.row_errors == 3 and ReportRowError.objects.count() == 3
        alerts = [m for m in mailoutbox if "Workday row could not be read" in m.subject]
        assert len(alerts) == 3
        assert any("surrogate" in m.subject for m in alerts)
        assert any("Termination_Date" in m.subject for m in alerts)
        assert any("missing Employee_ID" in m.subject for m in alerts)
        assert all("/workday/row-errors" in m.body for m in alerts)

        sync.sync_workday()  # the next poll: nothing new to tell
        assert len([m for m in mailoutbox if "Workday row could not be read" in m.subject]) == 3

        client = Client()
        client.force_login(approver)
        queue = client.get("/").content.decode()
        assert "3 Workday rows could not be read" in queue and "/workday/row-errors" in queue
        page = client.get("/workday/row-errors").content.decode()
        assert page.count("<strong>unresolved</strong>") == 3
        assert "surrogate" in page and "Termination_Date has 2 different values" in page
        assert "missing Employee_ID" in page and "Ada \ufffd" in page

        org.correct_termination("E300", Termination_Date=week_ahead())
        sync.sync_workday()
        assert Case.objects.count() == 2
        assert ReportRowError.objects.filter(resolved_at=None).count() == 2
        page = client.get("/workday/row-errors").content.decode()
        assert page.count("<strong>unresolved</strong>") == 2
        assert "2 Workday rows could not be read" in client.get("/").content.decode()

    def test_the_page_is_for_approvers_and_a_bad_page_number_is_no_error(self, auditor, approver, leaver):
        leaver("E200", "Ada", "Lovelace", Termination_Date="the 5th of never")
        sync.sync_workday()
        client = Client()
        client.force_login(auditor)
        assert client.get("/workday/row-errors").status_code == 403
        client.force_login(approver)
        response = client.get("/workday/row-errors?page=%ED%A0%80x")
        assert response.status_code == 200 and "Termination_Date" in response.content.decode()

    def test_with_no_row_errors_the_queue_says_none(self, approver, leaver):
        leaver("E100")
        sync.sync_workday()
        client = Client()
        client.force_login(approver)
        assert "none unresolved" in client.get("/").content.decode()
