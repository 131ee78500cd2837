"""Revoke now: an approver cuts an open case's person off at once, with a reason, under the same rails as approving."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from offboarding import decisions, revocation
from offboarding.models import AuditEvent, Case, ProtectedAccount


def revoke_now(client, case: Case, reason: str = "Walked out today"):
    """The confirmation step, then the decision itself; returns the page shown after it."""
    url = reverse("case_revoke_now", args=[case.pk])
    step = client.post(url, {"reason": reason})
    assert step.status_code == 200 and 'name="confirmed"' in step.content.decode()
    assert "becomes <strong>now</strong>" in step.content.decode()
    return client.post(url, {"reason": reason, "confirmed": "yes"}, follow=True).content.decode()


class TestRevokeNow:
    def test_a_scheduled_case_becomes_due_now_and_its_revocation_starts(self, client, approver, synced_case):
        case = decisions.approve(synced_case(days_ahead=7).pk, approver, "HR confirmed")
        assert case.state == Case.State.SCHEDULED
        client.force_login(approver)
        before = timezone.now()
        body = revoke_now(client, case, "Misconduct: fired today")
        case.refresh_from_db()
        assert case.state == Case.State.APPROVED and case.immediate
        assert before <= case.effective_at <= timezone.now()
        assert "Revoking now" in body
        assert 'id="brought-forward"' in body and "“Misconduct: fired today”" in body
        event = AuditEvent.objects.get(case=case, action="case.revoke_now")
        assert event.actor_name == "alice" and event.after["reason"] == "Misconduct: fired today"
        assert event.before["effective_at"] > event.after["effective_at"]
        assert revocation.run_case(case.pk) == Case.State.COMPLETED

    def test_an_undecided_ordinary_case_is_approved_by_one_approver_and_due_at_once(
        self, client, approver, synced_case
    ):
        case = synced_case(days_ahead=7)
        client.force_login(approver)
        revoke_now(client, case)
        case.refresh_from_db()
        assert case.state == Case.State.APPROVED and case.decided_by == approver
        assert case.effective_at <= timezone.now()
        assert Case.objects.due().filter(pk=case.pk).exists()

    def test_a_protected_person_needs_a_second_different_approver(self, client, approver, second_approver, synced_case):
        ProtectedAccount.objects.create(kind="group", value="GitHub Engineers E100", note="admins of the code")
        case = synced_case(days_ahead=7)
        client.force_login(approver)
        body = revoke_now(client, case)
        case.refresh_from_db()
        assert case.is_decidable and case.effective_at <= timezone.now()
        assert "a second, different approver must approve too" in body
        assert not Case.objects.due().filter(pk=case.pk).exists()
        # The same person again is refused; a second one's "now" starts it.
        assert "already approved" in revoke_now(client, case)
        client.force_login(second_approver)
        revoke_now(client, case, "Confirmed with HR")
        case.refresh_from_db()
        assert case.state == Case.State.APPROVED
        assert sorted(case.approvals.values_list("user__username", flat=True)) == ["alice", "erin"]

    def test_it_needs_a_reason_and_changes_nothing_without_one(self, approver, synced_case):
        case = decisions.approve(synced_case(days_ahead=7).pk, approver)
        moment = case.effective_at
        with pytest.raises(decisions.DecisionError, match="A reason is required"):
            decisions.revoke_now(case.pk, approver, "  ")
        case.refresh_from_db()
        assert case.state == Case.State.SCHEDULED and case.effective_at == moment

    def test_a_finished_case_cannot_be_revoked_now(self, client, approver, synced_case):
        case = decisions.approve(synced_case(days_ahead=-1).pk, approver)
        revocation.run_case(case.pk)
        client.force_login(approver)
        body = client.get(case.get_absolute_url()).content.decode()
        assert 'id="revoke-now"' not in body
        with pytest.raises(decisions.DecisionError, match="nothing to bring forward"):
            decisions.revoke_now(case.pk, approver, "again")

    def test_an_auditor_can_neither_see_nor_use_it(self, client, auditor, synced_case):
        case = synced_case(days_ahead=7)
        client.force_login(auditor)
        assert 'id="revoke-now"' not in client.get(case.get_absolute_url()).content.decode()
        response = client.post(reverse("case_revoke_now", args=[case.pk]), {"reason": "x", "confirmed": "yes"})
        assert response.status_code == 403
        assert Case.objects.get(pk=case.pk).state == Case.State.PENDING_REVIEW

    def test_the_case_page_offers_it_on_an_open_case(self, client, approver, synced_case):
        case = synced_case(days_ahead=7)
        client.force_login(approver)
        body = client.get(case.get_absolute_url()).content.decode()
        assert 'id="revoke-now"' in body and "Revoke now…" in body


class TestNoOktaUser:
    def test_a_case_without_an_okta_user_offers_the_identity_chooser_not_approve(self, client, approver, synced_case):
        case = synced_case(in_okta=False)
        assert not case.okta_user_id
        client.force_login(approver)
        body = client.get(case.get_absolute_url()).content.decode()
        assert "Approve…" not in body and 'id="revoke-now"' not in body
        assert reverse("case_identity", args=[case.pk]) in body
        assert 'id="no-okta-user"' in body


class TestEmergencyForSomeoneWithAnOpenCase:
    def test_it_leads_to_that_case_s_revoke_now_without_a_dead_button(self, client, approver, synced_case):
        case = synced_case(days_ahead=1)
        client.force_login(approver)
        response = client.post(reverse("emergency"), {"okta_user_id": case.okta_user_id, "reason": "Fired"})
        body = response.content.decode()
        assert f'href="{case.get_absolute_url()}#revoke-now"' in body
        assert case.okta_login in body and "Zoë Müller" in body
        assert "Yes, offboard" not in body
        # Confirming anyway opens no second case and shows the same way out.
        again = client.post(
            reverse("emergency"), {"okta_user_id": case.okta_user_id, "reason": "Fired", "confirmed": "yes"}
        )
        assert "Yes, offboard" not in again.content.decode()
        assert Case.objects.count() == 1

    def test_a_case_past_its_moment_is_still_the_way_in(self, client, approver, synced_case):
        case = synced_case(days_ahead=1)
        Case.objects.filter(pk=case.pk).update(effective_at=timezone.now() - timedelta(hours=6))
        client.force_login(approver)
        body = client.post(reverse("emergency"), {"okta_user_id": case.okta_user_id, "reason": "x"}).content.decode()
        assert f"Case {case.pk}" in body


class TestEmergencySearch:
    def test_a_login_is_found_whatever_its_case(self, client, org, approver):
        found = org.add_okta_user(
            "90001", "Break-Glass", "Admin", login="BreakGlass-Admin@acme.example", email="it-security@acme.example"
        )
        client.force_login(approver)
        body = client.get(reverse("emergency"), {"q": "breakglass"}).content.decode()
        assert "1 user found" in body and f'value="{found["id"]}"' in body
