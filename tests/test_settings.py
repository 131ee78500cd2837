"""Start-up configuration: every bad value stops the process and names its variable."""

import uuid

import pytest

from sandbox import credentials as sandbox
from tests.processes import PRODUCTION, manage

VENDOR_URLS = ["WORKDAY_REPORT_URL", "OKTA_ORG_URL", "JIRA_BASE_URL"]


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
            ("SYNC_ALERT_AFTER_FAILURES", "0"),
            ("SYNC_ALERT_AFTER_MINUTES", "0"),
            ("WORKDAY_READ_TIMEOUT", "0"),
            ("WORKDAY_CONNECT_TIMEOUT", "-1"),
            # Bounds, not only types: a validator that returns False is ignored by marshmallow 4.
            ("SYNC_INTERVAL_MINUTES", "0"),
            ("REVOCATION_LEASE_SECONDS", "0"),
            ("REVOCATION_PARALLEL_CALLS", "0"),
            ("OKTA_MAX_CONCURRENCY", "0"),
            ("WORKDAY_REPORT_WINDOW_DAYS", "-1"),
            ("WORKDAY_REPORT_WINDOW_DAYS", "3651"),
            ("WORKDAY_PUSH_TOLERANCE_SECONDS", "0"),
            ("WORKDAY_PUSH_REFUSALS_INTERVAL_SECONDS", "0"),
            ("WORKDAY_PUSH_REFUSALS_PER_ADDRESS", "0"),
            ("JIRA_EXTRA_FIELDS", "{customfield_10010: Security}"),
            ("JIRA_EXTRA_FIELDS", '[{"customfield_10010": "x"}]'),
            ("JIRA_EXTRA_FIELDS", '{"summary": "not ours"}'),
            ("OFFBOARDING_INSTALL_ID", "Prod Site"),
            ("CACHE_URL", "memcached://127.0.0.1:11211"),
            ("WEB_CONCURRENCY", "four"),
        ],
    )
    def test_it_names_the_malformed_variable(self, name, value):
        result = manage("check", **{**PRODUCTION, name: value})
        assert result.returncode != 0
        assert name in result.stderr

    @pytest.mark.parametrize(
        "missing", ["SECRET_KEY", "OKTA_API_TOKEN", "JIRA_API_TOKEN", "ADFS_CLIENT_ID", "OFFBOARDING_INSTALL_ID"]
    )
    def test_it_names_a_missing_required_variable(self, missing):
        env = {k: v for k, v in PRODUCTION.items() if k != missing}
        result = manage("check", **env)
        assert result.returncode != 0
        assert missing in result.stderr

    def test_it_reads_jira_extra_fields_and_the_install_id(self):
        result = manage(
            "shell",
            "-c",
            "from django.conf import settings; print(settings.JIRA_EXTRA_FIELDS, settings.OFFBOARDING_INSTALL_ID)",
            **{**PRODUCTION, "JIRA_EXTRA_FIELDS": '{"customfield_10010": {"value": "Security"}}'},
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "{'customfield_10010': {'value': 'Security'}} prod"

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


class TestTaskResults:
    """The cluster keeps a task's failure, not its success (the case and its trail are the record)."""

    @staticmethod
    def save(success: bool) -> None:
        from django.utils import timezone
        from django_q.brokers import get_broker
        from django_q.monitor import save_task

        task = {"id": uuid.uuid4().hex, "name": "revoke-case-1", "func": "offboarding.revocation.run_case"}
        task |= {"args": (1,), "kwargs": {}, "started": timezone.now(), "stopped": timezone.now()}
        task["sync"] = True  # saved in this process: the monitor would close the connection first
        save_task(task | {"success": success, "result": "completed" if success else "boom"}, get_broker())

    def test_a_successful_task_leaves_no_result_row(self, db):
        from django_q.models import Task

        self.save(success=True)
        assert not Task.objects.exists()

    def test_a_failed_task_is_kept(self, db):
        from django_q.models import Failure

        self.save(success=False)
        assert Failure.objects.get().result == "boom"


class TestProductionCannotReachTheSandbox:
    @pytest.mark.parametrize("missing", VENDOR_URLS)
    def test_without_debug_each_vendor_url_is_required(self, missing):
        result = manage("check", **{k: v for k, v in PRODUCTION.items() if k != missing})
        assert result.returncode != 0
        assert f"{missing} must be set" in result.stderr

    @pytest.mark.parametrize("name", VENDOR_URLS)
    def test_without_debug_plain_http_is_refused(self, name):
        result = manage("check", **{**PRODUCTION, name: PRODUCTION[name].replace("https://", "http://")})
        assert result.returncode != 0
        assert f"{name} must be an https:// URL" in result.stderr

    def test_without_debug_there_is_no_sandbox_app_nor_its_command(self):
        code = "from django.apps import apps; print(apps.is_installed('sandbox'))"
        result = manage("shell", "-c", code, **PRODUCTION)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "False"
        result = manage("sandbox", "--addr", "127.0.0.1:0", **PRODUCTION)
        assert result.returncode != 0
        assert "Unknown command: 'sandbox'" in result.stderr

    def test_the_sandbox_outside_debug_needs_every_vendor_on_this_machine_with_the_sandboxs_credentials(self):
        on_the_sandbox = {
            **PRODUCTION,
            "SANDBOX_ENABLED": "true",
            "WORKDAY_REPORT_URL": sandbox.WORKDAY_REPORT_URL,
            "OKTA_ORG_URL": sandbox.OKTA_URL,
            "JIRA_BASE_URL": sandbox.JIRA_URL,
            "WORKDAY_PASSWORD": sandbox.WORKDAY_PASSWORD,
            "OKTA_API_TOKEN": sandbox.OKTA_API_TOKEN,
            "JIRA_API_TOKEN": sandbox.JIRA_API_TOKEN,
        }
        code = "from django.apps import apps; print(apps.is_installed('sandbox'))"
        result = manage("shell", "-c", code, **on_the_sandbox)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "True"  # as the benchmarks run it
        for name, real in [("OKTA_API_TOKEN", "a-real-token"), ("JIRA_BASE_URL", "https://acme.atlassian.net")]:
            result = manage("check", **{**on_the_sandbox, name: real})
            assert result.returncode != 0
            assert "SANDBOX_ENABLED" in result.stderr and name in result.stderr
        # And it is never mistaken for a deployment.
        result = manage("check", "--deploy", **on_the_sandbox)
        assert result.returncode != 0
        assert "offboarding.E004" in result.stderr


# A development configuration (DEBUG, so start-up lets anything through) that the deploy check would pass
# but for Django's warnings about DEBUG itself; each case below spoils one value of it.
CLEAN_DEVELOPMENT = {**PRODUCTION, "DEBUG": "true", "SANDBOX_ENABLED": "false", "WORKDAY_PUSH_SECRET": "p" * 32}


class TestDeployCheck:
    def test_a_real_configuration_passes_it(self):
        result = manage("check", "--deploy", **CLEAN_DEVELOPMENT)
        assert result.returncode == 0, result.stderr
        assert "offboarding." not in result.stdout + result.stderr

    @pytest.mark.parametrize(
        ("name", "value", "says"),
        [
            ("WORKDAY_REPORT_URL", sandbox.WORKDAY_REPORT_URL, "offboarding.E001"),
            ("OKTA_ORG_URL", sandbox.OKTA_URL, "offboarding.E001"),
            ("JIRA_BASE_URL", sandbox.JIRA_URL, "offboarding.E001"),
            ("OKTA_ORG_URL", "https://localhost:8001/okta", "offboarding.E001"),
            ("JIRA_BASE_URL", "http://localhost/jira", "offboarding.E001"),
            ("WORKDAY_REPORT_URL", "http://wd5-services1.myworkday.com/ccx/service/r", "offboarding.E002"),
            ("OKTA_ORG_URL", "http://acme.okta.com", "offboarding.E002"),
            ("JIRA_BASE_URL", "http://acme.atlassian.net", "offboarding.E002"),
            ("WORKDAY_PASSWORD", sandbox.WORKDAY_PASSWORD, "offboarding.E003"),
            ("OKTA_API_TOKEN", sandbox.OKTA_API_TOKEN, "offboarding.E003"),
            ("JIRA_API_TOKEN", sandbox.JIRA_API_TOKEN, "offboarding.E003"),
            ("WORKDAY_PUSH_SECRET", sandbox.PUSH_SECRET, "offboarding.E003"),
            ("SANDBOX_ENABLED", "true", "offboarding.E004"),
            ("OFFBOARDING_INSTALL_ID", "dev", "offboarding.E005"),
        ],
    )
    def test_it_fails_on_the_sandbox_its_credentials_or_plain_http(self, name, value, says):
        result = manage("check", "--deploy", **{**CLEAN_DEVELOPMENT, name: value})
        assert result.returncode != 0
        assert says in result.stderr
        assert name in result.stderr


class TestSharedCache:
    def test_the_default_cache_is_the_databases_own_table(self):
        code = "from django.conf import settings; print(settings.CACHES['default'])"
        result = manage("shell", "-c", code, **PRODUCTION)
        assert result.returncode == 0, result.stderr
        assert "DatabaseCache" in result.stdout
        assert "offboarding_cache" in result.stdout

    def test_a_redis_cache_may_not_share_the_brokers_database(self):
        broker = {"Q_BROKER": "redis", "REDIS_URL": "redis://redis.internal:6379/0"}
        for same in ("redis://redis.internal:6379/0", "redis://redis.internal", "redis://redis.internal:6379/?db=0"):
            result = manage("check", **{**PRODUCTION, **broker, "CACHE_URL": same})
            assert result.returncode != 0
            assert "CACHE_URL" in result.stderr
            assert "FLUSHDB" in result.stderr

    def test_a_redis_cache_of_its_own_database_is_accepted(self):
        broker = {"Q_BROKER": "redis", "REDIS_URL": "redis://redis.internal:6379/0"}
        code = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
        result = manage("shell", "-c", code, **{**PRODUCTION, **broker, "CACHE_URL": "redis://redis.internal:6379/1"})
        assert result.returncode == 0, result.stderr
        assert "RedisCache" in result.stdout

    def test_the_deploy_check_fails_on_a_per_process_cache_for_several_web_workers(self):
        for workers in ({}, {"WEB_CONCURRENCY": "4"}):
            result = manage("check", "--deploy", **{**CLEAN_DEVELOPMENT, "CACHE_URL": "locmem://", **workers})
            assert result.returncode != 0
            assert "offboarding.E006" in result.stderr
            assert "CACHE_URL" in result.stderr

    def test_the_deploy_check_lets_a_single_web_worker_keep_its_cache_in_memory(self):
        env = {**CLEAN_DEVELOPMENT, "CACHE_URL": "locmem://", "WEB_CONCURRENCY": "1"}
        result = manage("check", "--deploy", **env)
        assert result.returncode == 0, result.stderr
        assert "offboarding.E006" not in result.stderr
