"""Start-up configuration: every bad value stops the process and names its variable."""

import pytest

from tests.processes import PRODUCTION, manage


class TestBadSettings:
    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("DEBUG", "maybe"),
            ("Q_BROKER", "rabbitmq"),
            ("Q_WORKERS", "two"),
            ("OKTA_ORG_URL", "not a url"),
            ("AUTH_MODE", "kerberos"),
            ("SECURE_HSTS_SECONDS", "-x"),
            ("WORKDAY_POLLER", "sometimes"),
        ],
    )
    def test_it_names_the_malformed_variable(self, name, value):
        result = manage("check", **{**PRODUCTION, name: value})
        assert result.returncode != 0
        assert name in result.stderr

    @pytest.mark.parametrize("missing", ["SECRET_KEY", "OKTA_API_TOKEN", "JIRA_API_TOKEN", "ADFS_CLIENT_ID"])
    def test_it_names_a_missing_required_variable(self, missing):
        env = {k: v for k, v in PRODUCTION.items() if k != missing}
        result = manage("check", **env)
        assert result.returncode != 0
        assert missing in result.stderr

    def test_it_refuses_local_login_without_debug(self):
        result = manage("check", **{**PRODUCTION, "AUTH_MODE": "local"})
        assert result.returncode != 0
        assert "AUTH_MODE" in result.stderr

    def test_it_reads_a_secret_from_a_file(self, tmp_path):
        secret = tmp_path / "okta-token"
        secret.write_text("token-from-file\n")
        env = {k: v for k, v in PRODUCTION.items() if k != "OKTA_API_TOKEN"}
        result = manage(
            "shell",
            "-c",
            "from django.conf import settings; print(settings.OKTA_API_TOKEN)",
            OKTA_API_TOKEN_FILE=str(secret),
            **env,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "token-from-file"

    def test_it_names_an_unreadable_secret_file(self, tmp_path):
        result = manage("check", **{**PRODUCTION, "SECRET_KEY_FILE": str(tmp_path / "absent")})
        assert result.returncode != 0
        assert "SECRET_KEY_FILE" in result.stderr


class TestProductionDefaults:
    def test_check_deploy_reports_nothing(self):
        result = manage("check", "--deploy", "--fail-level", "DEBUG", **PRODUCTION)
        assert result.returncode == 0, result.stderr
        assert "no issues" in result.stdout

    def test_it_never_imports_adfs_views_in_local_mode(self):
        code = "import sys, django.urls; django.urls.resolve('/'); print('django_auth_adfs.views' in sys.modules)"
        result = manage("shell", "-c", code, DEBUG="true", AUTH_MODE="local")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "False"

    def test_sqlite_is_tuned_for_a_web_process_and_a_worker(self):
        code = (
            "from django.db import connection\n"
            "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])\n"
            "print(connection.settings_dict['OPTIONS']['transaction_mode'])"
        )
        result = manage("shell", "-c", code, DEBUG="true", DATABASE_URL="sqlite:////tmp/offboarding-settings-test.db")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[-2:] == ["wal", "IMMEDIATE"]


class TestSyncSchedule:
    @pytest.mark.parametrize(
        ("env", "minutes"),
        [
            ({}, 15),
            ({"SYNC_INTERVAL_MINUTES": "30"}, 30),
            ({"WORKDAY_POLLER": "false"}, 1),
            ({"WORKDAY_POLLER": "false", "SYNC_INTERVAL_MINUTES": "5"}, 5),
        ],
        ids=["poller", "poller-every-30", "no-poller", "no-poller-every-5"],
    )
    def test_the_clusters_sync_runs_every_interval_only_without_a_poller(self, env, minutes):
        code = "from django.conf import settings; print(settings.SCHEDULES['sync_workday'][1])"
        result = manage("shell", "-c", code, DEBUG="true", **env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == str(minutes)
