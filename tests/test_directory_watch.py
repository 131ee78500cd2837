"""Directory-sourced leavers are flagged and watched: reconciliation checks them every hour (configurable) until
their directory follow-up is closed, and a reactivation by the directory's import reopens the case at once."""

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from offboarding import decisions, revocation, sync
from offboarding.models import AuditEvent, Case, FollowUp, ReconciliationRun
from tests.processes import PRODUCTION, manage

ACTIVE_DIRECTORY = {"type": "ACTIVE_DIRECTORY", "name": "acme.example"}


@pytest.fixture
def on_call(settings):
    settings.ALERT_EMAILS = ["security-oncall@acme.example"]


@pytest.fixture
def directory_case(org, approver):
    """A leaver mastered by Active Directory (or as `provider` says), synced, approved and revoked."""

    def make(employee_id: str = "E300", provider: dict = ACTIVE_DIRECTORY, first: str = "Ada") -> Case:
        user = org.add_okta_user(employee_id, first, "Directory", provider=provider)
        org.add_termination(
            employee_id,
            Worker=f"{first} Directory",
            First_Name=first,
            Last_Name="Directory",
            Termination_Date=(date.today() - timedelta(days=3)).isoformat(),
            Time_Zone="UTC",
        )
        sync.sync_workday()
        case = Case.objects.get(termination__employee_id=employee_id)
        decisions.approve(case.pk, approver, "HR confirmed")
        revocation.run_case(case.pk)
        case = Case.objects.get(pk=case.pk)
        assert case.okta_user_id == user["id"]
        return case

    return make


def watch() -> ReconciliationRun:
    """One run of the directory watch, as its schedule runs it."""
    call_command("reconcile", "--directory-sourced")
    return ReconciliationRun.objects.order_by("-started_at", "-id").first()


class TestFlagged:
    def test_a_directory_sourced_leaver_is_flagged_and_gets_a_directory_follow_up(
        self, client, approver, directory_case
    ):
        case = directory_case()
        assert case.directory_sourced and case.provider == ACTIVE_DIRECTORY
        assert case.state == Case.State.REVOKED_IN_OKTA
        (follow_up,) = case.follow_ups.all()
        assert (follow_up.kind, follow_up.target_id) == ("directory", "ACTIVE_DIRECTORY")
        client.force_login(approver)
        body = client.get(case.get_absolute_url()).content.decode()
        assert 'id="directory-sourced"' in body and "directory-sourced: acme.example" in body

    def test_an_okta_mastered_leaver_is_neither_flagged_nor_watched(self, directory_case):
        case = directory_case(provider={"type": "OKTA", "name": "OKTA"})
        assert not case.directory_sourced and case.state == Case.State.COMPLETED
        assert watch().checked == 0


class TestWatched:
    def test_a_reactivation_by_import_is_back_in_needs_attention_within_one_interval(
        self, org, directory_case, on_call, mailoutbox
    ):
        case = directory_case()
        assert watch().findings == []
        assert org.directory_import("ACTIVE_DIRECTORY") == [case.okta_user_id]
        assert org.okta_user(case.okta_user_id)["status"] == "ACTIVE"

        run = watch()
        case.refresh_from_db()
        assert case.state == Case.State.NEEDS_ATTENTION
        assert "reactivated by a directory import" in case.attention_reason
        assert [f["okta_user_id"] for f in run.findings] == [case.okta_user_id]
        assert AuditEvent.objects.filter(case=case, action="reconcile.finding").exists()
        (mail,) = mailoutbox
        assert "directory-sourced leavers were reactivated" in mail.subject
        assert case.person_name in mail.body

    def test_a_case_already_needing_attention_is_not_alerted_again_every_hour(
        self, org, directory_case, on_call, mailoutbox
    ):
        case = directory_case()
        org.directory_import()
        watch()
        assert watch().checked == 0
        assert len(mailoutbox) == 1
        assert Case.objects.get(pk=case.pk).state == Case.State.NEEDS_ATTENTION

    def test_a_disabled_directory_account_is_not_reactivated_by_the_import(self, org, directory_case):
        case = directory_case()
        org.set_directory_account(case.okta_user_id, enabled=False)
        assert org.directory_import() == []
        assert watch().findings == []
        assert Case.objects.get(pk=case.pk).state == Case.State.REVOKED_IN_OKTA

    def test_the_watch_ends_once_the_directory_follow_up_is_closed(self, client, approver, directory_case):
        case = directory_case()
        (follow_up,) = case.follow_ups.all()
        client.force_login(approver)
        url = reverse("close_follow_up", args=[follow_up.pk])
        client.post(url, {"note": "Disabled in AD by the directory team"})
        assert FollowUp.objects.get(pk=follow_up.pk).status == FollowUp.Status.CLOSED
        assert Case.objects.get(pk=case.pk).state == Case.State.COMPLETED
        assert watch().checked == 0

    def test_the_sandbox_imports_only_directory_sourced_users(self, org, directory_case):
        okta_only = directory_case("E301", provider={"type": "OKTA", "name": "OKTA"}, first="Bea")
        assert org.directory_import() == []
        assert org.okta_user(okta_only.okta_user_id)["status"] == "DEPROVISIONED"


class TestInterval:
    def test_the_watch_is_scheduled_every_hour_by_default(self, db, settings):
        from django_q.models import Schedule

        from offboarding.apps import ensure_schedules

        ensure_schedules()
        schedule = Schedule.objects.get(name="watch_directory_users")
        assert schedule.args == "'reconcile', '--directory-sourced'"
        assert schedule.minutes == settings.DIRECTORY_WATCH_MINUTES == 60

    def test_the_interval_is_configurable(self):
        script = "from django.conf import settings; print(settings.SCHEDULES['watch_directory_users'][1])"
        result = manage("shell", "-c", script, **{**PRODUCTION, "DIRECTORY_WATCH_MINUTES": "15"})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "15"

    @pytest.mark.parametrize("value", ["0", "hourly", "99999"])
    def test_a_bad_interval_stops_start_up_naming_it(self, value):
        result = manage("check", **{**PRODUCTION, "DIRECTORY_WATCH_MINUTES": value})
        assert result.returncode != 0
        assert "DIRECTORY_WATCH_MINUTES" in result.stderr
