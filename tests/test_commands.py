"""The operators' commands and the periodic jobs behind them."""

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_q.models import Schedule

from offboarding.models import Case


class TestOffboardDryRun:
    def test_it_prints_exactly_what_would_be_done(self, leaver, capsys):
        leaver()
        call_command("sync_workday")
        capsys.readouterr()
        call_command("offboard", "E100", "--dry-run")
        out = capsys.readouterr().out
        assert "Identity: exact" in out
        assert "Would remove 2 group memberships:" in out
        assert "VPN Users E100" in out and "GitHub Engineers E100" in out
        assert "Everyone (BUILT_IN)" in out
        assert "AD: Engineering E100 (APP_GROUP)" in out
        assert "Would deactivate the user" in out

    def test_it_changes_nothing(self, org, leaver):
        person = leaver()
        call_command("sync_workday")
        org.clear_requests()
        call_command("offboard", "E100", "--dry-run")
        assert {r["method"] for r in org.requests("okta")} == {"GET"}
        assert org.okta_user(person["user_id"])["status"] == "ACTIVE"
        assert Case.objects.get().state == Case.State.PENDING_REVIEW

    def test_it_says_when_there_is_no_okta_user(self, leaver, capsys):
        leaver(in_okta=False)
        call_command("sync_workday")
        call_command("offboard", "E100", "--dry-run")
        assert "Nothing would be done: no Okta user." in capsys.readouterr().out


class TestSyncCommand:
    def test_it_reports_what_changed(self, leaver, capsys):
        leaver()
        call_command("sync_workday")
        assert "1 new, 0 updated, 0 cancelled, 0 row errors" in capsys.readouterr().out


@pytest.mark.django_db
class TestSchedules:
    def test_they_exist_once_by_name_after_migrating_again(self):
        call_command("migrate", verbosity=0)
        call_command("migrate", verbosity=0)
        names = sorted(Schedule.objects.values_list("name", flat=True))
        assert names == [
            "anchor_audit_log",
            "enqueue_due_cases",
            "reconcile",
            "refresh_group_owners",
            "retry_tickets",
            "sync_follow_ups",
            "sync_workday",
            "verify_audit_log",
            "watch_directory_users",
        ]
        assert Schedule.objects.get(name="anchor_audit_log").minutes == 60  # hourly, by default
        sync = Schedule.objects.get(name="sync_workday")
        assert sync.func == "django.core.management.call_command"
        assert (sync.args, sync.minutes) == ("'sync_workday'", 15)  # the poller's safety net
        assert Schedule.objects.get(name="enqueue_due_cases").args == "'run_due', '--enqueue'"

    def test_the_sync_interval_is_configurable(self, settings):
        settings.SCHEDULES = {**settings.SCHEDULES, "sync_workday": (["sync_workday"], 5)}
        call_command("migrate", verbosity=0)
        assert Schedule.objects.get(name="sync_workday").minutes == 5


@pytest.mark.django_db
class TestDemoUsers:
    def test_each_signs_in_with_the_password_it_prints(self, client, capsys, settings):
        settings.DEBUG = True  # the command refuses to run otherwise
        call_command("create_demo_users")
        out = capsys.readouterr().out
        for username in ("approver", "approver2", "auditor", "admin"):
            line = next(line for line in out.splitlines() if line.startswith(f"{username} / "))
            password = line.split(" / ")[1].split(" ")[0]
            response = client.post(reverse("login"), {"username": username, "password": password})
            assert response.status_code == 302, username
            assert client.get(response.url).status_code == 200
            client.logout()
