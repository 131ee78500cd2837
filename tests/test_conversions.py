"""A contractor converted to an employee: two Workday ids for one Okta user go to a person, never to a rule."""

from datetime import date, timedelta

import pytest

from offboarding import decisions, sync
from offboarding.models import AuditEvent, AutoApproveRule, Case

EMAIL = "zoë.müller@acme.example"


@pytest.fixture
def everyone_rule(db):
    return AutoApproveRule.objects.create(name="Everyone")


def case_of(employee_id: str) -> Case:
    return Case.objects.get(termination__employee_id=employee_id)


def contract_ends(org, days_ahead: int = 3) -> None:
    """The contractor id C100's row; its Okta user is the employee's now (employeeNumber E100, same login)."""
    org.add_termination(
        "C100",
        Worker="Zoë Müller",
        First_Name="Zoë",
        Last_Name="Müller",
        Email_Work=EMAIL,
        Termination_Date=(date.today() + timedelta(days=days_ahead)).isoformat(),
        Time_Zone="America/New_York",
        Worker_Type="Contingent Worker",
        Termination_Category="Voluntary",
    )


class TestConversions:
    def test_a_contractor_id_whose_okta_user_is_the_employees_goes_to_a_person(
        self, org, everyone_rule, mailoutbox, settings
    ):
        settings.ALERT_EMAILS = ["security@example.com"]
        org.add_okta_user("E100", "Zoë", "Müller", login=EMAIL, email=EMAIL)
        contract_ends(org)

        sync.sync_workday()
        case = case_of("C100")
        assert case.state == Case.State.NEEDS_ATTENTION
        assert sync.conversion_reason(EMAIL, ["C100", "E100"]) in case.attention_reason
        assert case.decided_by_rule is None
        assert AuditEvent.objects.filter(case=case, action="case.conversion_suspected").count() == 1
        assert any("Conversion?" in m.body for m in mailoutbox)

    def test_two_ids_in_one_report_for_one_okta_user_both_go_to_a_person(self, org, leaver, everyone_rule):
        leaver("E100", days_ahead=3)  # the employee, found by employee number: no doubt of its own
        contract_ends(org)

        sync.sync_workday()
        for employee_id in ("E100", "C100"):
            case = case_of(employee_id)
            assert case.state == Case.State.NEEDS_ATTENTION, employee_id
            assert "Conversion?" in case.attention_reason
            assert case.decided_by_rule is None

    def test_an_approved_case_loses_its_decision_when_a_second_id_arrives_for_its_okta_user(
        self, org, leaver, approver
    ):
        leaver("E100", days_ahead=7)
        sync.sync_workday()
        decisions.approve(case_of("E100").pk, approver, "HR confirmed")
        assert case_of("E100").state == Case.State.SCHEDULED
        contract_ends(org)

        sync.sync_workday()
        employee = case_of("E100")
        assert employee.state == Case.State.NEEDS_ATTENTION
        assert "Conversion?" in employee.attention_reason
        assert not employee.approvals.exists()
        event = AuditEvent.objects.get(case=employee, action="case.conversion_suspected")
        assert event.after["approvers"] == ["alice"]

    def test_one_id_for_one_user_is_no_conversion(self, org, leaver, everyone_rule):
        leaver("E100", days_ahead=3)

        sync.sync_workday()
        assert case_of("E100").decided_by_rule == everyone_rule
