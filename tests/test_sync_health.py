"""Sync health is visible: a Workday sync outage or a vendor rejecting our credentials is alerted once,
fails /healthz and shows a banner to approvers and admins, until the next good answer clears it."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from offboarding import health, sync
from offboarding.clients.errors import AuthenticationFailed, VendorError
from offboarding.clients.jira import JiraClient
from offboarding.clients.okta import OktaClient
from offboarding.models import AuditEvent, Case
from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM


@pytest.fixture
def on_call(settings):
    settings.ALERT_EMAILS = ["security-oncall@acme.example"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


def failed_sync() -> None:
    with pytest.raises(VendorError):
        sync.sync_workday()


def healthz() -> tuple[int, dict]:
    response = Client().get(reverse("healthz"))
    return response.status_code, response.json()


def queue_for(user) -> str:
    client = Client()
    client.force_login(user)
    return client.get("/").content.decode()


def subjects(mailoutbox) -> list[str]:
    return [mail.subject for mail in mailoutbox]


class TestSyncOutage:
    def test_three_failed_syncs_in_a_row_alert_once_and_fail_healthz_until_a_good_sync_clears_both(
        self, on_call, org, leaver, approver, auditor, mailoutbox
    ):
        sync.sync_workday()  # a good sync first
        org.fault("workday", "outage")
        failed_sync()
        failed_sync()
        assert healthz()[0] == 200 and mailoutbox == []  # two failures are not an outage yet

        failed_sync()
        status, body = healthz()
        assert status == 503 and "vendors" in body["failing"]
        (problem,) = body["problems"]
        assert problem.startswith("Workday sync failing: last good sync 20") and "3 failed in a row" in problem
        assert subjects(mailoutbox) == ["[Offboarding] Workday sync failing"]
        assert "Workday sync failing" in queue_for(approver)
        assert "Workday sync failing" not in queue_for(auditor)

        failed_sync()
        failed_sync()
        assert len(mailoutbox) == 1  # once per outage, not every poll

        org.clear_faults()
        leaver("E100")
        sync.sync_workday()
        assert healthz() == (200, {"status": "ok", "failing": []})
        assert "Workday sync failing" not in queue_for(approver)
        assert subjects(mailoutbox)[1:] == ["[Offboarding] Workday sync works again"]
        assert AuditEvent.objects.filter(action="workday.sync_recovered").count() == 1
        assert Case.objects.get().termination.employee_id == "E100"

    def test_a_failed_push_counts_as_a_failed_sync(self, on_call, org, leaver, mailoutbox, settings):
        settings.SYNC_ALERT_AFTER_FAILURES = 1
        leaver("E100")
        org.fault("workday", "outage")
        with pytest.raises(VendorError):
            sync.sync_workday(employee_id="E100")
        assert healthz()[0] == 503
        assert subjects(mailoutbox) == ["[Offboarding] Workday sync failing"]

    def test_no_good_sync_for_the_configured_minutes_is_an_outage(self, on_call, db, mailoutbox, settings):
        settings.SYNC_ALERT_AFTER_MINUTES = 15
        good = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        health.sync_succeeded(now=good)
        assert health.check_sync(now=good + timedelta(minutes=14, seconds=59)) is None
        assert mailoutbox == []

        outage = health.check_sync(now=good + timedelta(minutes=15))
        assert outage is not None and outage.message.startswith("Workday sync failing: last good sync 2026-12-01 09:00")
        health.check_sync(now=good + timedelta(minutes=30))
        assert subjects(mailoutbox) == ["[Offboarding] Workday sync failing"]

        health.sync_succeeded(now=good + timedelta(minutes=31))
        assert health.sync_outage(now=good + timedelta(minutes=32)) is None
        assert subjects(mailoutbox)[1:] == ["[Offboarding] Workday sync works again"]

    def test_a_sync_that_stopped_running_is_alerted_by_the_minute_job(self, on_call, db, mailoutbox):
        health.sync_succeeded(now=timezone.now() - timedelta(minutes=20))  # then the poller died
        assert healthz()[0] == 503  # seen without any sync running
        call_command("run_due", stdout=StringIO())
        call_command("run_due", stdout=StringIO())
        assert subjects(mailoutbox) == ["[Offboarding] Workday sync failing"]


class TestRejectedCredentials:
    def test_workday_refusing_our_password_is_alerted_at_once_and_cleared_when_it_answers(
        self, on_call, org, approver, mailoutbox, settings
    ):
        real = settings.WORKDAY_PASSWORD
        settings.WORKDAY_PASSWORD = "expired"
        with pytest.raises(AuthenticationFailed):
            sync.sync_workday()
        with pytest.raises(AuthenticationFailed):
            sync.sync_workday()
        status, body = healthz()
        assert status == 503
        assert body["problems"] == [
            "Workday answered 401: credentials rejected; check WORKDAY_USERNAME / WORKDAY_PASSWORD "
            "(the integration system user's password may have expired)"
        ]
        assert subjects(mailoutbox) == ["[Offboarding] Workday credentials rejected"]
        assert "Workday answered 401: credentials rejected" in queue_for(approver)

        settings.WORKDAY_PASSWORD = real
        sync.sync_workday()
        assert healthz()[0] == 200
        assert subjects(mailoutbox)[1:] == ["[Offboarding] Workday credentials accepted again"]

    def test_an_okta_token_refused_is_alerted_naming_its_30_day_expiry(self, on_call, org, mailoutbox, settings):
        real = settings.OKTA_API_TOKEN
        settings.OKTA_API_TOKEN = "unused-for-31-days"
        with pytest.raises(AuthenticationFailed):
            OktaClient.from_settings().count_active_users()
        (problem,) = healthz()[1]["problems"]
        assert problem.startswith("Okta answered 401: credentials rejected") and "30 days unused" in problem
        assert subjects(mailoutbox) == ["[Offboarding] Okta credentials rejected"]

        settings.OKTA_API_TOKEN = real
        OktaClient.from_settings().count_active_users()
        assert healthz()[0] == 200
        assert subjects(mailoutbox)[1:] == ["[Offboarding] Okta credentials accepted again"]

    def test_a_service_app_refused_for_want_of_a_dpop_proof_is_alerted_with_okta_s_reason(
        self, on_call, org, mailoutbox, settings
    ):
        settings.OKTA_CLIENT_ID, settings.OKTA_PRIVATE_KEY = SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM
        settings.OKTA_DPOP = False  # but the sandbox's service app requires DPoP, as Okta's do by default
        for _ in range(2):
            with pytest.raises(AuthenticationFailed):
                OktaClient.from_settings().count_active_users()
        status, body = healthz()
        assert status == 503
        (problem,) = body["problems"]
        assert problem.startswith(
            "Okta answered 400 invalid_dpop_proof: credentials rejected (The DPoP proof JWT header is missing. "
            "OKTA_DPOP is false, but the service app requires DPoP-bound tokens: set OKTA_DPOP=true.)"
        )
        assert "check OKTA_CLIENT_ID / OKTA_PRIVATE_KEY / OKTA_SCOPES / OKTA_DPOP" in problem
        assert subjects(mailoutbox) == ["[Offboarding] Okta credentials rejected"]

        settings.OKTA_DPOP = True
        OktaClient.from_settings().count_active_users()
        assert healthz()[0] == 200
        assert subjects(mailoutbox)[1:] == ["[Offboarding] Okta credentials accepted again"]

    def test_a_jira_token_refused_is_alerted_once(self, on_call, org, mailoutbox, settings):
        real = settings.JIRA_API_TOKEN
        settings.JIRA_API_TOKEN = "revoked"
        for _ in range(2):
            with pytest.raises(AuthenticationFailed):
                JiraClient.from_settings().find_issues_by_label("offboarding")
        assert healthz()[1]["problems"][0].startswith("Jira answered 401: credentials rejected")
        assert subjects(mailoutbox) == ["[Offboarding] Jira credentials rejected"]

        settings.JIRA_API_TOKEN = real
        JiraClient.from_settings().find_issues_by_label("offboarding")
        assert healthz()[0] == 200
        assert subjects(mailoutbox)[1:] == ["[Offboarding] Jira credentials accepted again"]
