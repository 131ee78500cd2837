"""Auto-approve rules: each condition fires and does not fire; never for doubt or protection."""

import pytest
from django.utils import timezone

from offboarding import sync
from offboarding.models import AuditEvent, AutoApproveRule, Case, ProtectedAccount

MATCHING = {
    "Termination_Category": "Involuntary",
    "Worker_Type": "Contingent Worker",
    "Supervisory_Organization": "Sales",
    "Location": "Berlin",
}


def synced_case() -> Case:
    sync.sync_workday()
    return Case.objects.get()


class TestConditions:
    @pytest.mark.parametrize(
        ("condition", "fires"),
        [
            ({"categories": ["Involuntary"]}, True),
            ({"categories": ["Voluntary"]}, False),
            ({"worker_types": ["Contingent Worker"]}, True),
            ({"worker_types": ["Employee"]}, False),
            ({"departments_include": ["sales", "Marketing"]}, True),
            ({"departments_include": ["Engineering"]}, False),
            ({"departments_exclude": ["Engineering"]}, True),
            ({"departments_exclude": ["Sales"]}, False),
            ({"locations": ["Berlin"]}, True),
            ({"locations": ["Toronto"]}, False),
            ({"max_groups": 2}, True),
            ({"max_groups": 1}, False),
            ({"categories": ["Involuntary"], "locations": ["Toronto"]}, False),
        ],
    )
    def test_each_condition(self, leaver, condition, fires):
        AutoApproveRule.objects.create(name="rule", **condition)
        leaver(**MATCHING)
        case = synced_case()
        assert (case.decided_by_rule is not None) is fires
        assert case.state == (Case.State.SCHEDULED if fires else Case.State.PENDING_REVIEW)

    def test_a_disabled_rule_never_fires(self, leaver):
        AutoApproveRule.objects.create(name="off", enabled=False)
        leaver(**MATCHING)
        assert synced_case().decided_by_rule is None

    def test_the_case_records_the_rule_and_a_snapshot_of_its_conditions(self, leaver):
        rule = AutoApproveRule.objects.create(name="Contractors", worker_types=["Contingent Worker"])
        leaver(**MATCHING)
        case = synced_case()
        rule.worker_types = ["Employee"]
        rule.save()
        case.refresh_from_db()
        assert case.rule_snapshot["worker_types"] == ["Contingent Worker"]
        event = AuditEvent.objects.get(action="case.approved")
        assert event.actor_name == f"rule:{rule.pk}"
        assert event.after["rule"]["name"] == "Contractors"

    def test_an_immediate_rule_makes_the_case_due_now(self, leaver, django_capture_on_commit_callbacks):
        AutoApproveRule.objects.create(name="Now", timing=AutoApproveRule.Timing.IMMEDIATELY)
        leaver(days_ahead=5, **MATCHING)
        with django_capture_on_commit_callbacks() as callbacks:
            case = synced_case()
        assert case.state == Case.State.APPROVED
        assert case.immediate
        assert case.effective_at <= timezone.now()
        assert len(callbacks) == 1  # handed to the revocation worker at once

    def test_no_rule_fires_for_a_protected_account(self, org, leaver):
        AutoApproveRule.objects.create(name="Everyone")
        person = leaver(**MATCHING)
        ProtectedAccount.objects.create(kind=ProtectedAccount.Kind.GROUP, value=person["groups"][0])
        case = synced_case()
        assert case.decided_by_rule is None
        assert case.state == Case.State.NEEDS_ATTENTION
        assert "two distinct approvers" in case.attention_reason
