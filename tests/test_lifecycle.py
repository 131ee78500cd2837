"""What Workday says while, or after, a revocation runs: a started lockout always finishes, then people decide."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from offboarding import decisions, restore, revocation, sync
from offboarding.clients.okta import OktaClient
from offboarding.models import AuditEvent, Case, Step, Termination
from tests.wrapped_clients import Wrapped, after, before


def only_case() -> Case:
    return Case.objects.get()


def case_page(client, user, case: Case) -> str:
    client.force_login(user)
    response = client.get(reverse("case", args=[case.pk]))
    assert response.status_code == 200
    return response.content.decode()


# Where the rescind lands: just before the deactivation call, or between clearing sessions and deactivating.
MID_RUN = {
    "just before the deactivation call": lambda act: {"deactivate": before(1, act)},
    "right after the sessions are cleared": lambda act: {"clear_sessions": after(1, act)},
}


class TestRescindDuringTheRevocation:
    @pytest.mark.parametrize("moment", list(MID_RUN))
    def test_the_lockout_finishes_is_verified_and_ticketed_then_a_restore_is_offered(
        self, org, approved_case, approver, client, mailoutbox, settings, moment
    ):
        settings.ALERT_EMAILS = ["security@example.com"]
        case = approved_case()

        def rescind_in_workday():
            org.rescind_termination("E100")
            sync.sync_workday()

        okta = Wrapped(OktaClient.from_settings(), **MID_RUN[moment](rescind_in_workday))
        assert revocation.run_case(case.pk, okta=okta) == Case.State.NEEDS_ATTENTION

        case = only_case()
        assert org.okta_user(case.okta_user_id)["status"] == "DEPROVISIONED"
        assert Step.objects.get(case=case, kind=Step.Kind.VERIFY).status == Step.Status.DONE
        assert case.revoked_at is not None
        assert "Rescinded in Workday during the revocation" in case.attention_reason
        (issue,) = org.jira_issues()
        assert case.jira_key == issue["key"] and case.ticket == Case.Ticket.FILED
        assert "Rescinded in Workday during the revocation" in str(issue["fields"]["description"])
        assert "COMPLETED: access revoked and verified" in str(issue["fields"]["description"])
        actions = list(AuditEvent.objects.filter(case=case).values_list("action", flat=True))
        order = [actions.index(a) for a in ("case.rescinded_during_revocation", "okta.verify.done")]
        order += [actions.index(a) for a in ("case.needs_attention", "jira.ticket_filed")]
        assert order == sorted(order)
        assert any("needs attention" in m.subject for m in mailoutbox)

        body = case_page(client, approver, case)
        assert "Rescinded in Workday during the revocation" in body
        assert reverse("case_restore", args=[case.pk]) in body

    def test_a_rescind_while_a_failed_case_waits_for_its_retry_is_kept_until_the_retry_finishes_the_lockout(
        self, org, approved_case, approver
    ):
        case = approved_case()
        org.fault("okta", "error", "POST /api/v1/users/*/lifecycle/deactivate", status=503)
        assert revocation.run_case(case.pk) == Case.State.FAILED
        org.clear_faults()
        decisions.retry_case(case.pk, approver)  # queued again, not yet claimed
        org.rescind_termination("E100")
        sync.sync_workday()
        assert only_case().state == Case.State.APPROVED

        assert revocation.run_case(case.pk) == Case.State.NEEDS_ATTENTION
        case = only_case()
        assert org.okta_user(case.okta_user_id)["status"] == "DEPROVISIONED"
        assert "Rescinded in Workday during the revocation" in case.attention_reason
        (issue,) = org.jira_issues()
        assert "Rescinded in Workday during the revocation" in str(issue["comments"])

    def test_a_rescind_of_a_failed_case_is_shown_and_alerted_and_waits_for_the_retry(
        self, org, approved_case, approver, client, mailoutbox, settings
    ):
        settings.ALERT_EMAILS = ["security@example.com"]
        case = approved_case()
        org.fault("okta", "error", "POST /api/v1/users/*/lifecycle/deactivate", status=503)
        revocation.run_case(case.pk)
        org.rescind_termination("E100")
        sync.sync_workday()
        case = only_case()
        assert case.state == Case.State.FAILED
        assert "changed in Workday" in mailoutbox[-1].subject
        body = case_page(client, approver, case)
        assert "Changed in Workday during the revocation" in body and "Rescinded in Workday" in body

    def test_the_restore_it_offers_is_the_two_approver_restore(self, org, approved_case, make_user):
        case = approved_case()

        def rescind_in_workday():
            org.rescind_termination("E100")
            sync.sync_workday()

        okta = Wrapped(OktaClient.from_settings(), deactivate=before(1, rescind_in_workday))
        revocation.run_case(case.pk, okta=okta)
        ann, ben = make_user("ann", "approvers"), make_user("ben", "approvers")
        decisions.request_restore(case.pk, ann, "rescinded during the run")
        with pytest.raises(decisions.DecisionError, match="different approver"):
            decisions.approve_restore(case.pk, ann)
        decisions.approve_restore(case.pk, ben)
        assert restore.restore_case(case.pk) == "restored"
        case = only_case()
        assert case.state == Case.State.COMPLETED and case.restored_at is not None
        assert org.okta_user(case.okta_user_id)["status"] in ("ACTIVE", "PROVISIONED")


def revoked_on(case: Case) -> date:
    """The day access went, where the person works."""
    return case.revoked_at.astimezone(ZoneInfo(case.termination.time_zone)).date()


class TestDateCorrectedAfterRevocation:
    def test_a_later_date_is_flagged_on_the_same_case_not_opened_as_a_second(
        self, org, approved_case, approver, client, mailoutbox, settings
    ):
        settings.ALERT_EMAILS = ["security@example.com"]
        case = approved_case()
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        corrected = date.today() + timedelta(days=6)
        org.correct_termination("E100", Termination_Date=corrected.isoformat(), Last_Day_of_Work=corrected.isoformat())
        result = sync.sync_workday()

        assert result.created == [] and result.updated == [case.pk]
        case = only_case()
        assert Termination.objects.count() == 1
        assert case.termination.termination_date == corrected
        days = (corrected - revoked_on(case)).days
        assert case.state == Case.State.NEEDS_ATTENTION
        assert f"revoked {days} days before the corrected date" in case.attention_reason
        flagged = AuditEvent.objects.filter(case=case, action="case.needs_attention").get()
        assert f"revoked {days} days before the corrected date" in flagged.after["reason"]
        assert any("needs attention" in m.subject for m in mailoutbox)
        body = case_page(client, approver, case)
        assert f"revoked {days} days before the corrected date" in body
        assert reverse("case_restore", args=[case.pk]) in body

    def test_a_date_corrected_during_the_revocation_is_flagged_once_the_lockout_is_done(self, org, approved_case):
        case = approved_case()
        corrected = date.today() + timedelta(days=10)

        def correct_in_workday():
            org.correct_termination("E100", Termination_Date=corrected.isoformat())
            sync.sync_workday()

        okta = Wrapped(OktaClient.from_settings(), deactivate=before(1, correct_in_workday))
        assert revocation.run_case(case.pk, okta=okta) == Case.State.NEEDS_ATTENTION
        case = only_case()
        assert Case.objects.count() == 1
        assert org.okta_user(case.okta_user_id)["status"] == "DEPROVISIONED"
        days = (corrected - revoked_on(case)).days
        assert f"revoked {days} days before the corrected date" in case.attention_reason
        assert AuditEvent.objects.filter(case=case, action="case.corrected_during_revocation").count() == 1
        assert "before the corrected date" in str(org.jira_issues()[0]["fields"]["description"])

    def test_an_earlier_date_after_the_revocation_needs_nothing(self, org, approved_case):
        case = approved_case()
        revocation.run_case(case.pk)
        org.correct_termination("E100", Termination_Date=(date.today() - timedelta(days=3)).isoformat())
        sync.sync_workday()
        case = only_case()
        assert case.state == Case.State.COMPLETED
        assert case.termination.termination_date == date.today() - timedelta(days=3)
        assert AuditEvent.objects.filter(case=case, action="termination.corrected").count() == 1

    def test_a_correction_before_the_revocation_still_reschedules(self, org, leaver, approver):
        leaver(days_ahead=10)
        sync.sync_workday()
        case = decisions.approve(only_case().pk, approver)
        assert case.state == Case.State.SCHEDULED
        org.correct_termination("E100", Termination_Date=(date.today() - timedelta(days=1)).isoformat())
        sync.sync_workday()
        case = only_case()
        assert case.state == Case.State.SCHEDULED and case.effective_at <= timezone.now()
        assert AuditEvent.objects.filter(case=case, action="case.rescheduled").count() == 1
        assert revocation.run_case(case.pk) == Case.State.COMPLETED

    def test_a_worker_who_leaves_again_long_after_is_a_new_case(self, org, approved_case):
        case = approved_case()
        revocation.run_case(case.pk)
        # The report stopped showing the old termination; months later the worker leaves again.
        Termination.objects.update(last_seen=timezone.now() - timedelta(days=90))
        org.correct_termination("E100", Termination_Date=(date.today() + timedelta(days=120)).isoformat())
        result = sync.sync_workday()
        assert len(result.created) == 1
        assert Case.objects.get(pk=case.pk).state == Case.State.COMPLETED


class TestRescindReversed:
    def test_a_cancelled_case_is_followed_by_a_new_decision_shown_in_the_queue(self, org, leaver, approver, client):
        leaver(days_ahead=-1)
        sync.sync_workday()
        org.rescind_termination("E100")
        sync.sync_workday()
        cancelled = only_case()
        assert cancelled.state == Case.State.CANCELLED

        org.correct_termination("E100", Is_Rescinded="0")  # Workday takes the rescind back
        result = sync.sync_workday()

        new = Case.objects.exclude(pk=cancelled.pk).get()
        assert result.created == [new.pk]
        assert new.state == Case.State.PENDING_REVIEW and new.reopened_from == cancelled
        assert new.termination == cancelled.termination and new.identity == Case.Identity.EXACT
        assert Case.objects.get(pk=cancelled.pk).state == Case.State.CANCELLED
        reversed_ = AuditEvent.objects.get(case=cancelled, action="case.rescind_reversed")
        assert reversed_.after["new_case"] == new.pk
        assert AuditEvent.objects.get(case=new, action="case.opened").after["reopens"] == cancelled.pk

        client.force_login(approver)
        queue = client.get(reverse("home")).content.decode()
        assert new.get_absolute_url() in queue and "re-opened" in queue
        assert "reversed the rescind that cancelled" in case_page(client, approver, new)
        assert sync.sync_workday().changed is False  # and it stays one new case

        decisions.approve(new.pk, approver, "HR: leaving after all")
        assert revocation.run_case(new.pk) == Case.State.COMPLETED
        assert org.okta_user(new.okta_user_id)["status"] == "DEPROVISIONED"

    def test_a_revocation_awaiting_a_restore_stands_and_is_no_longer_offered_for_one(
        self, org, approved_case, make_user
    ):
        case = approved_case()
        revocation.run_case(case.pk)
        org.rescind_termination("E100")
        sync.sync_workday()
        assert only_case().state == Case.State.NEEDS_ATTENTION
        decisions.request_restore(case.pk, make_user("ann", "approvers"), "rescinded")

        org.correct_termination("E100", Is_Rescinded="0")
        sync.sync_workday()
        case = only_case()
        assert case.state == Case.State.COMPLETED and case.attention_reason == ""
        assert case.restore_requested_by is None
        event = AuditEvent.objects.get(case=case, action="case.rescind_reversed")
        assert event.after["restore_request_withdrawn"] == "ann"
        with pytest.raises(decisions.DecisionError, match="no restore waiting"):
            decisions.approve_restore(case.pk, make_user("ben", "approvers"))
        assert org.okta_user(case.okta_user_id)["status"] == "DEPROVISIONED"

    def test_a_restored_case_is_followed_by_a_new_decision(self, org, approved_case, make_user):
        case = approved_case()
        revocation.run_case(case.pk)
        org.rescind_termination("E100")
        sync.sync_workday()
        decisions.request_restore(case.pk, make_user("ann", "approvers"), "rescinded")
        decisions.approve_restore(case.pk, make_user("ben", "approvers"))
        assert restore.restore_case(case.pk) == "restored"

        org.correct_termination("E100", Is_Rescinded="0")
        result = sync.sync_workday()
        new = Case.objects.get(reopened_from=case)
        assert result.created == [new.pk] and new.state == Case.State.PENDING_REVIEW
        assert Case.objects.get(pk=case.pk).restored_at is not None
