"""Safety rails: the mass-termination breaker, protected accounts, and who may decide."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from offboarding import decisions, revocation
from offboarding.models import Approval, AuditEvent, AutoApproveRule, Case, ProtectedAccount, SafetySettings
from offboarding.sync import SyncResult, sync_workday


def sync() -> SyncResult:
    return sync_workday()


class TestMassTerminationBreaker:
    def test_a_burst_trips_it_and_the_cases_wait_for_humans(self, leaver, mailoutbox, settings):
        settings.ALERT_EMAILS = ["security@example.com"]
        SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_count": 2})
        AutoApproveRule.objects.create(name="Everyone")
        for n in range(3):
            leaver(f"E10{n}", f"Person{n}", "Leaver")
        result = sync()
        assert result.breaker_tripped
        assert SafetySettings.load().breaker_tripped
        assert not Case.objects.filter(decided_by_rule__isnull=False).exists()
        assert AuditEvent.objects.filter(action="safety.breaker_tripped").count() == 1
        assert "3 new terminations in one sync (threshold 2)" in SafetySettings.load().breaker_reason
        assert any("breaker" in m.subject for m in mailoutbox)

    def test_it_stays_tripped_until_an_admin_resets_it(self, leaver, admin_user):
        SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_count": 1})
        AutoApproveRule.objects.create(name="Everyone")
        leaver("E100", "Ann", "One")
        leaver("E101", "Ben", "Two")
        sync()
        leaver("E102", "Cat", "Three")
        sync()
        assert Case.objects.get(termination__employee_id="E102").decided_by_rule is None
        decisions.reset_breaker(admin_user)
        assert not SafetySettings.load().breaker_tripped
        reset = AuditEvent.objects.get(action="safety.breaker_reset")
        assert reset.actor == admin_user
        leaver("E103", "Dan", "Four")
        sync()
        assert Case.objects.get(termination__employee_id="E103").decided_by_rule is not None

    def test_a_share_of_the_active_population_trips_it(self, leaver):
        SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_count": 1000, "breaker_share": 0.25})
        for n in range(6):
            leaver(f"E10{n}", f"Person{n}", "Leaver")
        result = sync()
        assert result.breaker_tripped
        safety = SafetySettings.load()
        assert safety.active_population == 16  # the sandbox's 10 workers and our 6 leavers
        assert "of 16 active Okta users" in safety.breaker_reason

    def test_an_ordinary_sync_does_not_trip_it(self, leaver):
        leaver()
        assert not sync().breaker_tripped


PUSH_SECRET = "test-push-secret"


@pytest.fixture
def push(org, settings):
    """Workday's signed notification of one worker's termination, through the push endpoint
    (signed as tests/test_push.py describes)."""
    settings.WORKDAY_PUSH_SECRET = PUSH_SECRET
    client = Client()

    def send(employee_id: str) -> None:
        body = json.dumps({"employee_id": employee_id, "event": "termination.entered"}).encode()
        timestamp = int(time.time())
        signature = hmac.new(PUSH_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        headers = {"HTTP_X_WORKDAY_SIGNATURE": f"t={timestamp},v1={signature}"}
        response = client.post("/api/workday/events", data=body, content_type="application/json", **headers)
        assert response.status_code == 200, response.content

    return send


def opened_minutes_ago(minutes: int, *employee_ids: str) -> None:
    Case.objects.filter(termination__employee_id__in=employee_ids).update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )


class TestBreakerWindow:
    def test_thirty_pushes_trip_it_and_the_later_cases_wait_for_humans(self, leaver, push):
        # The count threshold (25 by default) alone: the sandbox's small org would trip the share first.
        SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_share": 1.0})
        AutoApproveRule.objects.create(name="Everyone")
        people = [f"E{n:03}" for n in range(30)]
        for n, employee_id in enumerate(people):
            leaver(employee_id, f"Person{n}", "Leaver")
        for employee_id in people:
            push(employee_id)
        safety = SafetySettings.load()
        assert safety.breaker_tripped
        assert "26 new terminations within 60 minutes, across syncs and pushes (threshold 25)" in safety.breaker_reason
        cases = {c.termination.employee_id: c for c in Case.objects.select_related("termination")}
        assert all(cases[e].decided_by_rule is not None for e in people[:25])
        waiting = [cases[e] for e in people[25:]]
        assert all(c.decided_by_rule is None and c.state == Case.State.PENDING_REVIEW for c in waiting)
        assert AuditEvent.objects.filter(action="safety.breaker_tripped").count() == 1

    def test_cases_older_than_the_window_do_not_count(self, leaver, push):
        SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_count": 2, "breaker_window_minutes": 10})
        for n in range(5):
            leaver(f"E10{n}", f"Person{n}", "Leaver")
        push("E100")
        push("E101")
        opened_minutes_ago(11, "E100", "E101")
        push("E102")
        push("E103")
        assert not SafetySettings.load().breaker_tripped  # two in the window; the two before it are out
        push("E104")
        safety = SafetySettings.load()
        assert safety.breaker_tripped
        assert "3 new terminations within 10 minutes" in safety.breaker_reason

    def test_polls_and_pushes_count_together(self, leaver, push):
        SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_count": 2})
        leaver("E100", "Ann", "One")
        leaver("E101", "Ben", "Two")
        sync()
        leaver("E102", "Cat", "Three")
        push("E102")
        assert SafetySettings.load().breaker_tripped


class TestProtectedAccounts:
    @pytest.mark.parametrize("kind", ["user_id", "login", "group"])
    def test_a_protected_account_needs_two_distinct_approvers(self, leaver, make_user, kind):
        person = leaver()
        value = {"user_id": person["user_id"], "login": person["user"]["profile"]["login"], "group": "VPN Users E100"}
        ProtectedAccount.objects.create(kind=kind, value=value[kind])
        sync()
        case = Case.objects.get()
        assert case.protected_reason
        first, second = make_user("ann", "approvers"), make_user("ben", "approvers")
        decisions.approve(case.pk, first)
        assert Case.objects.get().state == Case.State.NEEDS_ATTENTION
        with pytest.raises(decisions.DecisionError, match="already approved"):
            decisions.approve(case.pk, first)
        case = decisions.approve(case.pk, second)
        assert case.state == Case.State.SCHEDULED
        assert Approval.objects.filter(case=case).count() == 2


SUPER_ADMINS = "Okta Super Admins"


def add_to_super_admins(org, user_id: str) -> None:
    group = next((g for g in org.okta_groups() if g["profile"]["name"] == SUPER_ADMINS), None)
    group = group or org.add_okta_group(SUPER_ADMINS)
    org.add_okta_membership(group["id"], user_id)


def okta_changes(org) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in org.requests("okta") if r["method"] != "GET"]


class TestProtectionDecidedAtEveryApproval:
    def test_a_group_protected_after_the_case_opened_takes_two_approvers(self, leaver, make_user):
        leaver()
        sync()
        case = Case.objects.get()
        assert not case.protected_reason and case.state == Case.State.PENDING_REVIEW
        ProtectedAccount.objects.create(kind="group", value="VPN Users E100")
        first, second = make_user("ann", "approvers"), make_user("ben", "approvers")
        case = decisions.approve(case.pk, first)
        assert case.state == Case.State.NEEDS_ATTENTION  # not scheduled on one person's word
        assert "VPN Users E100" in case.protected_reason
        assert "two distinct approvers are needed" in case.attention_reason
        assert AuditEvent.objects.filter(action="case.first_approval").count() == 1
        changed = AuditEvent.objects.get(action="case.protection_changed")
        assert changed.actor == first and changed.after["judged_from"] == "live Okta groups"
        assert decisions.approve(case.pk, second).state == Case.State.SCHEDULED

    def test_someone_added_to_a_protected_group_after_the_case_opened_takes_two_approvers(self, org, leaver, approver):
        ProtectedAccount.objects.create(kind="group", value=SUPER_ADMINS)
        person = leaver()
        sync()
        add_to_super_admins(org, person["user_id"])
        case = decisions.approve(Case.objects.get().pk, approver)
        assert case.state == Case.State.NEEDS_ATTENTION
        assert SUPER_ADMINS in case.protected_reason
        assert list(case.approvals.values_list("user__username", flat=True)) == ["alice"]

    def test_once_protected_a_case_stays_so_when_the_entry_is_removed(self, leaver, make_user):
        entry = ProtectedAccount.objects.create(kind="group", value="VPN Users E100")
        leaver()
        sync()
        entry.delete()
        case = decisions.approve(Case.objects.get().pk, make_user("ann", "approvers"))
        assert case.state == Case.State.NEEDS_ATTENTION and case.protected_reason

    def test_no_rule_fires_for_a_case_protected_after_it_opened(self, leaver):
        leaver()
        sync()
        ProtectedAccount.objects.create(kind="group", value="VPN Users E100")
        rule = AutoApproveRule.objects.create(name="Everyone")
        assert decisions.cases_rule_would_approve(rule) == []
        case = decisions.fire_rules(Case.objects.get().pk)
        assert case.decided_by_rule is None and case.state == Case.State.PENDING_REVIEW


class TestProtectionCheckedBeforeRevocation:
    def test_someone_made_protected_after_approval_is_held_before_any_change(
        self, org, leaver, approver, make_user, mailoutbox, settings
    ):
        settings.ALERT_EMAILS = ["security@example.com"]
        ProtectedAccount.objects.create(kind="group", value=SUPER_ADMINS)
        person = leaver(days_ahead=-1)
        sync()
        case = decisions.approve(Case.objects.get().pk, approver)
        assert case.state == Case.State.APPROVED
        add_to_super_admins(org, person["user_id"])
        org.clear_requests()

        assert revocation.run_case(case.pk) == Case.State.NEEDS_ATTENTION
        assert org.requests("okta") and okta_changes(org) == []  # read, then nothing changed
        assert org.okta_user(person["user_id"])["status"] == "ACTIVE"
        case.refresh_from_db()
        assert case.state == Case.State.NEEDS_ATTENTION and case.is_decidable
        assert SUPER_ADMINS in case.attention_reason and "two distinct approvers" in case.attention_reason
        assert "Nothing was changed in Okta" in case.attention_reason
        assert case.decided_by is None and case.jira_key == ""
        assert any(SUPER_ADMINS in m.body for m in mailoutbox)
        assert AuditEvent.objects.get(action="case.held_protected").after["approvers"] == ["alice"]

        # alice's approval stands as the first; a second person's lets it run, the protected group removed too.
        with pytest.raises(decisions.DecisionError, match="already approved"):
            decisions.approve(case.pk, approver)
        case = decisions.approve(case.pk, make_user("ben", "approvers"))
        assert case.state == Case.State.APPROVED
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        groups = {g["name"] for g in org.okta_user(person["user_id"])["groups"]}
        assert SUPER_ADMINS not in groups
        assert AuditEvent.verify_chain()[0]

    def test_an_approval_okta_could_not_check_is_caught_before_any_change(self, org, leaver, approver):
        ProtectedAccount.objects.create(kind="group", value=SUPER_ADMINS)
        person = leaver(days_ahead=-1)
        sync()
        add_to_super_admins(org, person["user_id"])  # after the case opened
        org.fault("okta", "outage", "GET /api/v1/users/*")
        case = decisions.approve(Case.objects.get().pk, approver)  # judged from the groups stored at review
        assert case.state == Case.State.APPROVED
        org.clear_faults()
        org.clear_requests()
        assert revocation.run_case(case.pk) == Case.State.NEEDS_ATTENTION
        assert okta_changes(org) == []
        assert SUPER_ADMINS in Case.objects.get().attention_reason

    def test_a_case_a_rule_approved_is_held_for_two_people(self, org, leaver, make_user):
        AutoApproveRule.objects.create(name="Now", timing=AutoApproveRule.Timing.IMMEDIATELY)
        person = leaver(days_ahead=-1)
        sync()
        case = Case.objects.get()
        assert case.decided_by_rule is not None
        ProtectedAccount.objects.create(kind="group", value=SUPER_ADMINS)
        add_to_super_admins(org, person["user_id"])
        org.clear_requests()
        assert revocation.run_case(case.pk) == Case.State.NEEDS_ATTENTION
        assert okta_changes(org) == []
        case.refresh_from_db()
        assert case.decided_by_rule is None and "rule “Now”" in case.attention_reason
        case = decisions.approve(case.pk, make_user("ann", "approvers"))
        assert case.state == Case.State.NEEDS_ATTENTION
        assert decisions.approve(case.pk, make_user("ben", "approvers")).state == Case.State.APPROVED


class TestDecisions:
    def test_an_approver_approves_with_a_reason(self, leaver, approver):
        leaver()
        sync()
        case = decisions.approve(Case.objects.get().pk, approver, "confirmed with HR")
        assert case.state == Case.State.SCHEDULED
        assert case.decided_by == approver
        event = AuditEvent.objects.get(action="case.approved")
        assert event.actor == approver
        assert event.after["reason"] == "confirmed with HR"

    def test_reject_needs_a_reason(self, leaver, approver):
        leaver()
        sync()
        case = Case.objects.get()
        with pytest.raises(decisions.DecisionError, match="reason is required"):
            decisions.reject(case.pk, approver, "  ")
        case = decisions.reject(case.pk, approver, "wrong person")
        assert case.state == Case.State.REJECTED
        assert AuditEvent.objects.get(action="case.rejected").after["reason"] == "wrong person"

    @pytest.mark.parametrize("who", ["auditor", "admin_user", "no_role_user"])
    def test_only_approvers_decide(self, leaver, request, who):
        leaver()
        sync()
        user = request.getfixturevalue(who)
        with pytest.raises(decisions.DecisionError):
            decisions.approve(Case.objects.get().pk, user)
        with pytest.raises(decisions.DecisionError):
            decisions.reject(Case.objects.get().pk, user, "no")

    def test_a_case_without_an_okta_user_cannot_be_approved(self, leaver, approver):
        leaver(in_okta=False)
        sync()
        with pytest.raises(decisions.DecisionError, match="No Okta user"):
            decisions.approve(Case.objects.get().pk, approver)

    def test_a_decided_case_cannot_be_decided_again(self, leaver, approver):
        leaver()
        sync()
        case = decisions.reject(Case.objects.get().pk, approver, "no")
        with pytest.raises(decisions.DecisionError, match="can no longer be approved"):
            decisions.approve(case.pk, approver)
