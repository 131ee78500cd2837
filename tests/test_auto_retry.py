"""A case that failed on a passing outage is retried by itself; a permanent error waits for a person."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from offboarding import decisions, revocation, sync
from offboarding.clients.okta import OktaClient
from offboarding.models import AuditEvent, Case, ReconciliationRun
from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM
from tests.processes import PRODUCTION, manage
from tests.wrapped_clients import Wrapped, before

DEACTIVATE = "POST /api/v1/users/*/lifecycle/deactivate"


@pytest.fixture
def due_case(leaver, approver, settings):
    """A leaver past their effective moment, synced and approved: due now. Alerts go to the security team."""
    settings.ALERT_EMAILS = ["security@example.com"]

    def make() -> Case:
        leaver(days_ahead=-1)
        sync.sync_workday()
        return decisions.approve(Case.objects.get().pk, approver, "HR confirmed")

    return make


def only_case() -> Case:
    return Case.objects.get()


def okta_changes(sandbox) -> Counter:
    return Counter(f"{r['method']} {r['path']}" for r in sandbox.requests("okta") if r["method"] != "GET")


def by_auto_retry(case: Case) -> list[str]:
    return list(AuditEvent.objects.filter(case=case, actor_name="system:auto_retry").values_list("action", flat=True))


def minutes_later(minutes: float):
    return timezone.now() + timedelta(minutes=minutes)


class TestAutomaticRetry:
    def test_an_outage_longer_than_the_retry_budget_is_retried_at_the_failed_step_and_completes(
        self, org, due_case, mailoutbox, approver, client
    ):
        case = due_case()
        org.fault("okta", "error", DEACTIVATE, status=503)  # for the whole retry budget of the call
        assert revocation.run_case(case.pk) == Case.State.FAILED
        case = only_case()
        assert by_auto_retry(case) == ["case.retry_scheduled"]
        (alert,) = mailoutbox
        assert "FAILED" in alert.subject and "retried automatically every 5 minutes" in alert.body
        client.force_login(approver)
        assert "retried automatically at" in client.get(reverse("case", args=[case.pk])).content.decode()

        org.clear_faults()  # Okta is back
        org.clear_requests()
        assert decisions.retry_due_cases(now=minutes_later(4)) == []  # not yet
        assert decisions.retry_due_cases(now=minutes_later(5.1)) == [case.pk]
        assert only_case().state == Case.State.APPROVED
        assert revocation.run_case(case.pk) == Case.State.COMPLETED

        case = only_case()
        assert org.okta_user(case.okta_user_id)["status"] == "DEPROVISIONED"
        # It resumed at the failed step: the removals and the session clearing were not sent again.
        assert list(okta_changes(org)) == [f"POST /api/v1/users/{case.okta_user_id}/lifecycle/deactivate"]
        assert by_auto_retry(case) == ["case.retry_scheduled", "case.retry_requested"]
        assert case.retry_at is None and case.retry_until is None
        (issue,) = org.jira_issues()
        assert "Re-run completed" in str(issue["comments"])
        assert len(mailoutbox) == 1

    def test_run_due_starts_the_retries_that_are_due(self, org, due_case, capsys):
        case = due_case()
        org.fault("okta", "error", DEACTIVATE, status=503)
        revocation.run_case(case.pk)
        org.clear_faults()
        call_command("run_due")
        assert only_case().state == Case.State.FAILED  # its retry is not due yet
        Case.objects.filter(pk=case.pk).update(retry_at=timezone.now() - timedelta(seconds=1))
        call_command("run_due")
        out = capsys.readouterr().out
        assert f"case {case.pk}: retried automatically" in out and f"case {case.pk}: completed" in out
        assert only_case().state == Case.State.COMPLETED

    def test_after_two_hours_it_stays_failed_and_the_alert_says_retries_are_exhausted(self, org, due_case, mailoutbox):
        case = due_case()
        org.fault("okta", "error", DEACTIVATE, status=503)  # Okta stays down
        revocation.run_case(case.pk)
        assert decisions.retry_due_cases(now=minutes_later(5.1)) == [case.pk]
        assert revocation.run_case(case.pk) == Case.State.FAILED
        assert len(mailoutbox) == 1  # one alert for the outage, not one per retry
        assert only_case().retry_at is not None

        assert decisions.retry_due_cases(now=minutes_later(121)) == []
        case = only_case()
        assert case.state == Case.State.FAILED and case.retry_at is None
        assert by_auto_retry(case)[-1] == "case.retries_exhausted"
        assert "Automatic retries exhausted" in mailoutbox[-1].body
        assert "still FAILED" in mailoutbox[-1].subject
        assert decisions.retry_due_cases(now=minutes_later(240)) == []
        assert len(mailoutbox) == 2

    def test_a_retry_by_a_person_after_that_starts_a_new_period(self, org, due_case, approver):
        case = due_case()
        org.fault("okta", "error", DEACTIVATE, status=503)
        revocation.run_case(case.pk)
        decisions.retry_due_cases(now=minutes_later(121))  # exhausted
        decisions.retry_case(case.pk, approver)
        assert revocation.run_case(case.pk) == Case.State.FAILED
        case = only_case()
        assert case.retry_at is not None and case.retry_until > minutes_later(115)

    def test_reconciliation_reports_a_case_waiting_for_its_retry_without_stopping_the_retries(self, org, due_case):
        case = due_case()
        org.fault("okta", "error", DEACTIVATE, status=503)
        revocation.run_case(case.pk)
        org.clear_faults()
        call_command("reconcile")
        assert ReconciliationRun.objects.get().findings[0]["case"] == case.pk  # still ACTIVE: reported
        assert only_case().state == Case.State.FAILED
        assert decisions.retry_due_cases(now=minutes_later(5.1)) == [case.pk]
        assert revocation.run_case(case.pk) == Case.State.COMPLETED

    def test_a_permanent_error_is_never_retried_blindly(self, org, due_case, settings, mailoutbox):
        # The service app lost the scope to change group memberships: Okta answers 403 E0000006.
        settings.OKTA_CLIENT_ID, settings.OKTA_PRIVATE_KEY = SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM
        settings.OKTA_API_TOKEN, settings.OKTA_SCOPES = "", ["okta.users.manage"]
        case = due_case()
        assert revocation.run_case(case.pk) == Case.State.FAILED
        case = only_case()
        assert {s.http_status for s in case.steps.filter(kind="remove_group", status="failed")} == {403}
        assert org.okta_user(case.okta_user_id)["status"] == "DEPROVISIONED"  # the lockout went on regardless

        org.clear_requests()
        for minutes in (5.1, 30, 119):
            assert decisions.retry_due_cases(now=minutes_later(minutes)) == []
        assert org.requests("okta") == []
        case = only_case()
        assert case.state == Case.State.FAILED and case.retry_at is None
        assert by_auto_retry(case) == ["case.retry_not_scheduled"]
        assert "Not retried automatically" in mailoutbox[0].body and "HTTP 403 E0000006" in mailoutbox[0].body

    def test_an_answer_that_cannot_be_used_is_not_retried_blindly(self, org, due_case):
        case = due_case()
        org.fault("okta", "malformed", "GET /api/v1/users/*/groups", count=1)  # a wrong-shaped group listing
        assert revocation.run_case(case.pk) == Case.State.FAILED
        assert only_case().retry_at is None
        assert by_auto_retry(only_case()) == ["case.retry_not_scheduled"]

    def test_a_verification_that_finds_a_membership_back_is_not_retried(self, org, due_case):
        case = due_case()
        vpn = next(g for g in org.okta_user(case.okta_user_id)["groups"] if g["name"] == "VPN Users E100")
        # A group push re-adds a membership between its removal and the read-back: a finding, not an outage.
        okta = Wrapped(
            OktaClient.from_settings(),
            deactivate=before(1, lambda: org.add_okta_membership(vpn["id"], case.okta_user_id)),
        )
        assert revocation.run_case(case.pk, okta=okta) == Case.State.FAILED
        assert only_case().retry_at is None
        assert by_auto_retry(only_case()) == ["case.retry_not_scheduled"]

    def test_they_can_be_switched_off(self, org, due_case, settings, mailoutbox):
        settings.AUTO_RETRY_FOR_MINUTES = 0
        case = due_case()
        org.fault("okta", "error", DEACTIVATE, status=503)
        revocation.run_case(case.pk)
        assert only_case().retry_at is None
        assert decisions.retry_due_cases(now=minutes_later(5.1)) == []
        assert "automatic retries are switched off" in mailoutbox[0].body

    def test_how_often_is_a_setting(self, org, due_case, settings):
        settings.AUTO_RETRY_EVERY_MINUTES = 15
        case = due_case()
        org.fault("okta", "error", DEACTIVATE, status=503)
        revocation.run_case(case.pk)
        assert decisions.retry_due_cases(now=minutes_later(5.1)) == []
        assert decisions.retry_due_cases(now=minutes_later(15.1)) == [case.pk]

    @pytest.mark.parametrize(("name", "value"), [("AUTO_RETRY_EVERY_MINUTES", "0"), ("AUTO_RETRY_FOR_MINUTES", "-5")])
    def test_a_setting_that_makes_no_sense_stops_start_up_naming_it(self, name, value):
        result = manage("check", **{**PRODUCTION, name: value})
        assert result.returncode != 0 and name in result.stderr
