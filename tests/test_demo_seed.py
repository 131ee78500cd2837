"""What `make run` adds to the sandbox's company so the demo shows the product's own rules: two approvers, the
Okta admins protected, a failing revocation; vendors waited for; one log line per product event."""

import logging
import subprocess
import sys

import pytest
import requests
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from accounts.roles import APPROVERS, has_role
from offboarding.models import AuditEvent, Case, ProtectedAccount
from tests.processes import ROOT, free_port, manage, wait_for


@pytest.fixture
def demo(sandbox, db, settings):
    """The sandbox's demo company, the demo users, and DEBUG (the demo's commands refuse to run without it)."""
    settings.DEBUG = True
    call_command("create_demo_users")
    return sandbox


@pytest.mark.sandbox(demo=True, workers=30, pending_terminations=0)
class TestSeedDemo:
    def test_it_protects_the_okta_admins_group_as_looked_up_in_okta(self, demo):
        call_command("seed_demo")
        group = next(g for g in demo.okta_groups() if g["profile"]["name"] == "Okta Super Admins")
        account = ProtectedAccount.objects.get()
        assert (account.kind, account.okta_id) == ("group", group["id"])
        assert AuditEvent.objects.get(action="protected_account.created").actor_name == "system:seed_demo"

    def test_it_reads_workday_so_the_okta_admin_leaver_is_protected(self, demo):
        call_command("seed_demo")
        morgan = Case.objects.get(termination__employee_id="20001")
        assert "Okta Super Admins" in morgan.protected_reason and morgan.needs_two_approvers

    def test_it_approves_the_leaver_whose_revocation_the_sandbox_fails(self, demo):
        call_command("seed_demo")
        case = Case.objects.get(termination__employee_id="20010")
        assert case.state == Case.State.APPROVED and case.decided_by.username == "approver"

    def test_run_again_it_protects_and_approves_nothing_more(self, demo):
        call_command("seed_demo")
        call_command("seed_demo")  # its second read of Workday brings what the sandbox held back: a rescind
        assert ProtectedAccount.objects.count() == 1
        assert AuditEvent.objects.filter(action__in=["case.approved", "protected_account.created"]).count() == 2
        assert Case.objects.get(termination__employee_id="20003").state == Case.State.CANCELLED

    def test_it_refuses_to_run_outside_debug(self, demo, settings):
        settings.DEBUG = False
        with pytest.raises(CommandError, match="development only"):
            call_command("seed_demo")
        assert not ProtectedAccount.objects.exists()


class TestDemoUsers:
    def test_there_are_two_approvers_for_what_needs_two(self, db, settings):
        settings.DEBUG = True
        call_command("create_demo_users")
        approvers = [u.username for u in User.objects.order_by("username") if has_role(u, APPROVERS)]
        assert approvers == ["approver", "approver2"]


class TestWaitForVendors:
    def test_it_returns_once_every_vendor_answers(self, sandbox, capsys):
        call_command("wait_for_vendors", "--timeout", "10")
        assert "Workday, Okta, Jira answer." in capsys.readouterr().out

    def test_it_names_the_vendor_that_does_not_answer(self, sandbox, settings):
        settings.JIRA_BASE_URL = f"http://127.0.0.1:{free_port()}/jira"
        with pytest.raises(CommandError, match=r"No answer after 0.5 s from Jira \(http://127.0.0.1"):
            call_command("wait_for_vendors", "--timeout", "0.5")


class TestTheLog:
    def test_each_audit_event_is_one_line(self, db, caplog):
        with caplog.at_level(logging.INFO, logger="offboarding.events"):
            AuditEvent.record("case.approved", actor=User.objects.create(username="ann"), obj="Case 7: Zoë")
        assert [r.getMessage() for r in caplog.records if r.name == "offboarding.events"] == [
            "case.approved by ann · Case 7: Zoë"
        ]

    @pytest.mark.parametrize(("flag", "level"), [("", "WARNING"), ("true", "INFO")])
    def test_web_requests_and_queue_tasks_are_logged_only_with_access_log(self, flag, level):
        shown = manage(
            "shell",
            "--no-imports",
            "-c",
            "from django.conf import settings as s; l = s.LOGGING['loggers']; "
            "print(l['django.server']['level'], l['django-q']['level'])",
            DEBUG="true",
            **({"ACCESS_LOG": flag} if flag else {}),
        )
        assert shown.stdout.split() == [level, level], shown.stderr

    def test_the_sandbox_logs_each_request_only_with_sandbox_access_log(self, tmp_path):
        port = free_port()
        log = (tmp_path / "sandbox.log").open("w+")
        server = subprocess.Popen(
            [sys.executable, "manage.py", "sandbox", "--addr", f"127.0.0.1:{port}", "--workers", "5"],
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", "OFFBOARDING_IGNORE_DOTENV": "1", "DEBUG": "true", "SANDBOX_ACCESS_LOG": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}/okta/api/v1/users/nobody"

            def answered():
                try:
                    return requests.get(url, timeout=2).status_code == 401
                except requests.RequestException:
                    return False

            wait_for(answered, 60, "the sandbox")
            wait_for(lambda: "GET /okta/api/v1/users/nobody" in (tmp_path / "sandbox.log").read_text(), 10, "the line")
        finally:
            server.terminate()
            server.wait(timeout=10)
        assert "GET /okta/api/v1/users/nobody" in (tmp_path / "sandbox.log").read_text()
