"""A termination that drops out of Workday's whole report before it is revoked goes to a person."""

import pytest
from django.core.management import call_command

from offboarding import decisions, sync
from offboarding.models import AuditEvent, Case, SafetySettings
from sandbox.control import SandboxControlError


def the_case(employee_id: str = "E100") -> Case:
    return Case.objects.get(termination__employee_id=employee_id)


def okta_changes(org) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in org.requests("okta") if r["method"] != "GET"]


class TestVanishedRows:
    def test_an_approved_case_whose_row_vanished_needs_attention_and_run_due_leaves_the_person_alone(
        self, org, leaver, approver, mailoutbox, settings
    ):
        settings.ALERT_EMAILS = ["security@example.com"]
        leaver("E100", days_ahead=-1)
        leaver("E200", first="Ada", last="Byron", days_ahead=-1)  # still in the report: the report is not empty
        sync.sync_workday()
        decisions.approve(the_case().pk, approver, "HR confirmed")
        org.drop_row("E100")

        sync.sync_workday()
        sync.sync_workday()  # seen missing twice: flagged and alerted once
        case = the_case()
        assert case.state == Case.State.NEEDS_ATTENTION
        assert sync.VANISHED in case.attention_reason
        assert case.decided_by is None and not case.approvals.exists()
        assert AuditEvent.objects.filter(case=case, action="case.vanished_from_report").count() == 1
        assert [m.subject for m in mailoutbox if "Workday's report" in m.subject] == [
            "[Offboarding] 1 case needs attention: no longer in Workday's report"
        ]

        org.clear_requests()
        call_command("run_due")
        assert the_case().state == Case.State.NEEDS_ATTENTION
        assert okta_changes(org) == []
        assert org.okta_user(the_case().okta_user_id)["status"] == "ACTIVE"

    def test_a_human_can_approve_it_again(self, org, leaver, approver, make_user):
        leaver("E100", days_ahead=-1)
        leaver("E200", first="Ada", last="Byron", days_ahead=-1)
        sync.sync_workday()
        decisions.approve(the_case().pk, approver, "HR confirmed")
        org.drop_row("E100")
        sync.sync_workday()

        case = decisions.approve(the_case().pk, approver, "checked with HR: the termination stands")
        assert case.state in Case.RUNNABLE_STATES

    def test_a_row_that_comes_back_is_said_so_on_the_case_and_the_decision_stays_a_persons(self, org, leaver):
        leaver("E100", days_ahead=3)
        leaver("E200", first="Ada", last="Byron", days_ahead=3)
        sync.sync_workday()
        org.drop_row("E100")
        sync.sync_workday()
        org.drop_row("E100", dropped=False)

        sync.sync_workday()
        case = the_case()
        assert case.state == Case.State.NEEDS_ATTENTION
        assert sync.BACK_IN_REPORT in case.attention_reason
        assert sync.VANISHED not in case.attention_reason
        assert AuditEvent.objects.filter(case=case, action="case.back_in_report").count() == 1

    def test_a_case_whose_okta_lookup_failed_stays_flagged_once_across_syncs(self, org, leaver, mailoutbox, settings):
        settings.ALERT_EMAILS = ["security@example.com"]
        leaver("E100", days_ahead=3)
        leaver("E200", first="Ada", last="Byron", days_ahead=3)
        org.fault("okta", "outage")
        sync.sync_workday()
        org.clear_faults()
        org.drop_row("E100")

        sync.sync_workday()
        sync.sync_workday()
        case = the_case()
        assert case.state == Case.State.NEEDS_ATTENTION
        assert sync.VANISHED in case.attention_reason
        assert AuditEvent.objects.filter(case=case, action="case.vanished_from_report").count() == 1
        assert len([m for m in mailoutbox if "Workday's report" in m.subject]) == 1

    def test_a_push_of_another_worker_does_not_count_as_the_whole_report(self, org, leaver):
        leaver("E100", days_ahead=3)
        leaver("E200", first="Ada", last="Byron", days_ahead=3)
        sync.sync_workday()

        sync.sync_workday(employee_id="E200")
        assert the_case().state == Case.State.PENDING_REVIEW

    def test_a_termination_older_than_the_reports_window_is_not_missing(self, org, leaver, settings):
        settings.WORKDAY_REPORT_WINDOW_DAYS = 30
        leaver("E100", days_ahead=-40)
        leaver("E200", first="Ada", last="Byron", days_ahead=3)
        sync.sync_workday()
        org.drop_row("E100")

        sync.sync_workday()
        assert sync.VANISHED not in the_case().attention_reason

    def test_the_empty_report_guard_comes_first(self, org, leaver):
        SafetySettings.objects.filter(pk=SafetySettings.load().pk).update(empty_report_suspect_from=1)
        leaver("E100", days_ahead=3)
        sync.sync_workday()
        org.drop_row("E100")

        with pytest.raises(sync.SuspectReport):
            sync.sync_workday()
        assert the_case().state == Case.State.PENDING_REVIEW

    def test_a_lone_row_under_the_guards_threshold_that_vanishes_is_flagged(self, org, leaver):
        leaver("E100", days_ahead=3)
        sync.sync_workday()
        org.drop_row("E100")

        sync.sync_workday()
        assert the_case().state == Case.State.NEEDS_ATTENTION

    def test_dropping_an_unknown_row_is_a_clear_error(self, org):
        with pytest.raises(SandboxControlError, match="404"):
            org.drop_row("NOPE")
