"""A leaver hired again under the same employee id: reconciliation stops reporting them, once and audited."""

from datetime import date, timedelta

import pytest
from django.core.management import call_command

from offboarding import decisions, sync
from offboarding.clients.okta import OktaClient
from offboarding.models import AuditEvent, Case, Termination
from offboarding.reconcile import REHIRED, reconcile


@pytest.fixture
def offboarded(leaver, approver):
    """E100 left two days ago, was revoked, and is ACTIVE in Okta again (the new job's account)."""
    person = leaver("E100", days_ahead=-2)
    sync.sync_workday()
    decisions.approve(Case.objects.get().pk, approver, "HR confirmed")
    call_command("run_due")
    assert Case.objects.get().state == Case.State.COMPLETED
    OktaClient.from_settings().reactivate(person["user_id"])
    return person


def the_case() -> Case:
    return Case.objects.get()


class TestRehires:
    def test_without_the_rehire_in_workday_reconciliation_flags_the_person_every_day(self, org, offboarded):
        assert len(reconcile().findings) == 1
        assert len(reconcile().findings) == 1
        assert the_case().state == Case.State.NEEDS_ATTENTION

    def test_a_newer_hire_date_ends_the_alarm_with_one_audited_note(self, org, offboarded):
        assert len(reconcile().findings) == 1  # flagged before Workday shows the rehire
        org.correct_termination("E100", Hire_Date=date.today().isoformat(), Worker_Status="Active")
        sync.sync_workday()
        assert Termination.objects.get().hire_date == date.today()

        assert reconcile().findings == []
        assert reconcile().findings == []
        case = the_case()
        assert case.state == Case.State.COMPLETED  # the finding was reconciliation's alone
        assert case.attention_reason == ""
        notes = AuditEvent.objects.filter(case=case, action="reconcile.rehire_noted")
        assert [n.after["reason"] for n in notes] == [REHIRED]

    def test_an_active_worker_status_alone_counts_once_the_termination_date_has_passed(self, org, offboarded):
        org.correct_termination("E100", Worker_Status="Active")
        sync.sync_workday()

        assert reconcile().findings == []
        assert AuditEvent.objects.filter(case=the_case(), action="reconcile.rehire_noted").count() == 1

    def test_a_hire_date_before_the_termination_is_no_rehire(self, org, offboarded):
        org.correct_termination("E100", Hire_Date=(date.today() - timedelta(days=400)).isoformat())
        sync.sync_workday()

        assert len(reconcile().findings) == 1

    def test_an_unparseable_hire_date_is_a_bad_row_not_a_rehire(self, org, offboarded):
        org.correct_termination("E100", Hire_Date="next tuesday")
        sync.sync_workday()

        assert Termination.objects.get().hire_date is None
        assert len(reconcile().findings) == 1
