"""Okta admin-role holders are protected by their roles alone (two approvers, never a rule), and the user behind
the product's own Okta credentials (`/api/v1/users/me`) is never offboarded by the product."""

import pytest

from offboarding import decisions, revocation, sync
from offboarding.models import AuditEvent, AutoApproveRule, Case, Step


def case_of(employee_id: str) -> Case:
    return Case.objects.get(termination__employee_id=employee_id)


def changes(org) -> list[str]:
    """The Okta requests that change something."""
    return [f"{r['method']} {r['path']}" for r in org.requests("okta") if r["method"] in ("PUT", "POST", "DELETE")]


class TestAdminRolesProtect:
    def test_a_super_admin_needs_two_approvers(self, org, leaver, approver, make_user):
        person = leaver(employee_id="E300", days_ahead=-1)
        org.add_okta_role(person["user_id"], "SUPER_ADMIN")
        sync.sync_workday()
        case = case_of("E300")
        assert case.plan["admin_roles"][0]["type"] == "SUPER_ADMIN"
        assert case.protected_reason == "Okta administrator (Super Administrator)"
        assert case.state == Case.State.NEEDS_ATTENTION
        assert "two distinct approvers" in case.attention_reason
        case = decisions.approve(case.pk, approver, "HR confirmed")
        assert case.state == Case.State.NEEDS_ATTENTION  # one approval waits for a second
        case = decisions.approve(case.pk, make_user("erin", "approvers"), "Confirmed with the CISO")
        assert case.state == Case.State.APPROVED

    def test_a_super_admin_is_never_auto_approved(self, org, leaver):
        AutoApproveRule.objects.create(name="Everyone")
        person = leaver(employee_id="E301", days_ahead=-1)
        org.add_okta_role(person["user_id"], "SUPER_ADMIN")
        sync.sync_workday()
        case = case_of("E301")
        assert case.decided_by_rule is None and case.state == Case.State.NEEDS_ATTENTION
        assert not decisions.rules_may_decide(case, decisions.SafetySettings.load())

    def test_the_same_person_without_a_role_is_auto_approved(self, org, leaver):
        AutoApproveRule.objects.create(name="Everyone")
        leaver(employee_id="E302", days_ahead=-1)
        sync.sync_workday()
        assert case_of("E302").decided_by_rule is not None

    def test_a_role_granted_after_one_approval_holds_the_revocation(self, org, leaver, approved_case):
        case = approved_case(employee_id="E303")
        org.add_okta_role(case.okta_user_id, "ORG_ADMIN")
        org.clear_requests()
        assert revocation.run_case(case.pk) == Case.State.NEEDS_ATTENTION
        case.refresh_from_db()
        assert case.protected_reason == "Okta administrator (Organizational Administrator)"
        assert "two distinct approvers" in case.attention_reason
        assert changes(org) == []  # nothing was changed in Okta
        assert org.okta_user(case.okta_user_id)["status"] == "ACTIVE"

    def test_a_role_granted_between_sync_and_approval_is_seen_at_approval(self, org, leaver, approver):
        person = leaver(employee_id="E304", days_ahead=-1)
        sync.sync_workday()
        org.add_okta_role(person["user_id"], "APP_ADMIN")
        case = decisions.approve(case_of("E304").pk, approver, "HR confirmed")
        assert case.state == Case.State.NEEDS_ATTENTION
        assert case.protected_reason == "Okta administrator (Application Administrator)"


class TestTheTokenOwnerIsNeverOffboarded:
    def test_the_token_owner_goes_to_needs_attention_at_plan_time(self, org, leaver):
        AutoApproveRule.objects.create(name="Everyone")
        person = leaver(employee_id="E310", days_ahead=-1)
        org.set_token_owner(person["user_id"])
        sync.sync_workday()
        case = case_of("E310")
        assert case.state == Case.State.NEEDS_ATTENTION and case.decided_by_rule is None
        assert "owns the API token the product signs in with" in case.attention_reason

    @pytest.mark.parametrize("approvals", [1, 2])
    def test_the_token_owner_is_never_revoked(self, org, leaver, approved_case, make_user, approvals):
        case = approved_case(employee_id="E311")
        if approvals == 2:  # even with two approvers
            org.add_okta_role(case.okta_user_id, "SUPER_ADMIN")
            revocation.run_case(case.pk)
            case = decisions.approve(case.pk, make_user("erin", "approvers"), "Second approver")
        org.set_token_owner(case.okta_user_id)
        org.clear_requests()
        assert revocation.run_case(case.pk) == Case.State.NEEDS_ATTENTION
        case.refresh_from_db()
        assert "owns the API token the product signs in with" in case.attention_reason
        assert changes(org) == []
        state = org.okta_user(case.okta_user_id)
        assert state["status"] == "ACTIVE" and not state["sessions_revoked"]
        assert AuditEvent.objects.filter(case=case, action="case.held_token_owner").exists()
        assert not Step.objects.filter(case=case, kind=Step.Kind.DEACTIVATE).exists()

    def test_someone_else_is_revoked_while_the_token_has_an_owner(self, org, leaver, approved_case):
        owner = org.add_okta_user("E399", "Ops", "Robot")
        org.set_token_owner(owner["id"])
        case = approved_case(employee_id="E312")
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
