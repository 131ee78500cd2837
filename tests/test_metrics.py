"""/metrics: Prometheus's view of the product, only to the token's bearer or an allowed network, read from the
database at each scrape."""

import ipaddress
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from offboarding.clients.okta import OktaClient, forget_shared_pacers
from offboarding.models import Actor, AuditCheck, AuditEvent, Case, FollowUp, Step, VendorHealth
from tests.client_fixtures import FAST
from tests.factories import make_case, make_past_case
from tests.processes import PRODUCTION, manage

TOKEN = "metrics-token-0123456789"
NAMES = [
    "offboarding_cases",
    "offboarding_time_to_revoke_seconds",
    "offboarding_steps_failed",
    "offboarding_okta_calls_in_flight",
    "offboarding_workday_sync_age_seconds",
    "offboarding_workday_sync_failures_in_a_row",
    "offboarding_followups_open",
    "offboarding_audit_chain_length",
]


@pytest.fixture
def protected(settings, db):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    return settings


def scrape(client: Client | None = None, token: str = TOKEN):
    client = client or Client()
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})


def samples(response) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


class TestMetricsAccess:
    def test_without_the_token_it_is_refused(self, protected):
        response = scrape(token="")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"offboarding_cases" not in response.content

    def test_a_wrong_token_is_refused(self, protected):
        assert scrape(token="guess").status_code == 401

    def test_the_right_token_gets_every_metric(self, protected):
        response = scrape()
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        for name in NAMES:
            assert f"# TYPE {name} " in response.content.decode()

    def test_an_address_outside_the_allowed_networks_is_refused(self, protected):
        protected.METRICS_TOKEN = ""
        protected.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
        assert scrape(Client(REMOTE_ADDR="192.0.2.7"), token="").status_code == 403
        assert scrape(Client(REMOTE_ADDR="10.1.2.3"), token="").status_code == 200

    def test_with_both_set_both_must_hold(self, protected):
        protected.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
        assert scrape(Client(REMOTE_ADDR="192.0.2.7")).status_code == 403
        assert scrape(Client(REMOTE_ADDR="10.1.2.3"), token="").status_code == 401
        assert scrape(Client(REMOTE_ADDR="10.1.2.3")).status_code == 200

    def test_it_is_not_there_unless_enabled(self, settings, db):
        settings.METRICS_ENABLED = False
        assert scrape().status_code == 404

    def test_it_refuses_to_start_enabled_without_protection_outside_debug(self):
        result = manage("check", **PRODUCTION, METRICS_ENABLED="true")
        assert result.returncode != 0
        assert "METRICS_TOKEN" in result.stderr and "METRICS_ALLOWED_NETWORKS" in result.stderr

    def test_it_starts_with_a_token(self):
        result = manage("check", **PRODUCTION, METRICS_ENABLED="true", METRICS_TOKEN=TOKEN)
        assert result.returncode == 0, result.stderr

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("METRICS_ALLOWED_NETWORKS", "not-a-network"),
            ("LOG_FORMAT", "xml"),
            ("OKTA_BUDGET_RESERVED_FOR_REVOCATION", "1.5"),
            ("OKTA_BUDGET_RESERVED_FOR_REVOCATION", "-0.1"),
            ("OKTA_LIVE_READ_CACHE_SECONDS", "-1"),
            ("OKTA_LIVE_READS_PER_USER_PER_MINUTE", "many"),
        ],
    )
    def test_it_names_a_malformed_setting(self, name, value):
        result = manage("check", **{**PRODUCTION, name: value})
        assert result.returncode != 0
        assert name in result.stderr


class TestMetricsValues:
    def test_cases_are_counted_by_state(self, protected):
        make_case(employee_id="E1", state=Case.State.COMPLETED)
        make_case(employee_id="E2", state=Case.State.COMPLETED)
        make_case(employee_id="E3", state=Case.State.FAILED)
        found = samples(scrape())
        assert found["offboarding_cases", (("state", "completed"),)] == 2
        assert found["offboarding_cases", (("state", "failed"),)] == 1
        assert found["offboarding_cases", (("state", "pending_review"),)] == 0

    def test_time_to_revoke_is_a_histogram_of_every_revoked_case(self, protected):
        moment = timezone.now() - timedelta(hours=1)
        for n, seconds in enumerate([3, 100, 7200]):
            make_case(employee_id=f"E{n}", state=Case.State.COMPLETED, revoked_at=moment + timedelta(seconds=seconds))
        make_case(employee_id="E9", state=Case.State.SCHEDULED)  # not revoked: not counted
        for case in Case.objects.all():  # saved, so the stored time to revoke follows the moment
            case.effective_at = moment
            case.save(update_fields=["effective_at"])
        found = samples(scrape())
        bucket = "offboarding_time_to_revoke_seconds_bucket"
        assert found[bucket, (("le", "5.0"),)] == 1
        assert found[bucket, (("le", "120.0"),)] == 2
        assert found[bucket, (("le", "3600.0"),)] == 2
        assert found[bucket, (("le", "+Inf"),)] == 3
        assert found["offboarding_time_to_revoke_seconds_count", ()] == 3
        assert found["offboarding_time_to_revoke_seconds_sum", ()] == pytest.approx(7303)

    def test_failed_steps_are_counted_by_vendor_and_code(self, protected):
        case = make_case(state=Case.State.FAILED)
        Step.objects.create(case=case, kind="remove_group", target="g1", status="failed", vendor_code="E0000007")
        Step.objects.create(case=case, kind="remove_group", target="g2", status="failed", vendor_code="E0000007")
        Step.objects.create(case=case, kind="deactivate", status="failed", http_status=503)
        Step.objects.create(case=case, kind="file_ticket", status="failed", http_status=400)
        Step.objects.create(case=case, kind="clear_sessions", status="done")
        found = samples(scrape())
        assert found["offboarding_steps_failed", (("code", "E0000007"), ("vendor", "okta"))] == 2
        assert found["offboarding_steps_failed", (("code", "HTTP 503"), ("vendor", "okta"))] == 1
        assert found["offboarding_steps_failed", (("code", "HTTP 400"), ("vendor", "jira"))] == 1

    def test_the_workday_sync_age_and_failures(self, protected):
        VendorHealth.objects.create(
            vendor="workday", last_success_at=timezone.now() - timedelta(minutes=10), failures_in_a_row=4
        )
        found = samples(scrape())
        assert 600 <= found["offboarding_workday_sync_age_seconds", ()] < 660
        assert found["offboarding_workday_sync_failures_in_a_row", ()] == 4

    def test_a_sync_never_run_is_infinitely_old(self, protected):
        assert samples(scrape())["offboarding_workday_sync_age_seconds", ()] == float("inf")

    def test_the_audit_chain_and_its_last_verification(self, protected, approver):
        for _ in range(3):
            AuditEvent.record("settings.changed", actor=Actor.system("test"), obj="x")
        AuditCheck.begin(approver).end(True, "intact")  # a check's result, as integrity.check_now leaves it
        found = samples(scrape())
        assert found["offboarding_audit_chain_length", ()] == AuditEvent.objects.count() >= 3
        assert found["offboarding_audit_last_verification_intact", ()] == 1
        check = AuditCheck.objects.get()
        assert found["offboarding_audit_last_verification_timestamp_seconds", ()] == pytest.approx(
            check.finished_at.timestamp()
        )

    def test_the_follow_ups_still_open_are_counted(self, protected):
        assert samples(scrape())["offboarding_followups_open", ()] == 0
        case = make_past_case()
        for n, status in enumerate([FollowUp.Status.OPEN, FollowUp.Status.OPEN, FollowUp.Status.CLOSED]):
            FollowUp.objects.create(
                case=case, kind=FollowUp.Kind.APP, target_id=f"0oa{n}", target_name=f"App {n}", what="x", status=status
            )
        assert samples(scrape())["offboarding_followups_open", ()] == 2

    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 50}, rate_limit_window=3600)
    def test_the_okta_budget_is_what_okta_last_said_is_left(self, protected, sandbox):
        forget_shared_pacers()
        okta = OktaClient.from_settings(policy=FAST)
        user_id = sandbox.okta_users()[0]["id"]
        for _ in range(3):
            okta.get_user(user_id)
        found = samples(scrape())
        family = (("family", "GET /api/v1/users/{id}"),)
        assert found["offboarding_okta_budget_limit", family] == 50
        assert found["offboarding_okta_budget_remaining", family] == 47
        assert 0 < found["offboarding_okta_budget_resets_in_seconds", family] <= 3600
        assert found["offboarding_okta_calls_in_flight", ()] == 0
        assert found["offboarding_okta_budget_reserved_for_revocation_ratio", ()] == 0.5
        forget_shared_pacers()
