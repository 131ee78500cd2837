"""Revocations before page views: a case page's live Okta read spends only the unreserved budget, is kept per
case for a while, is limited per user, and an auditor's page asks Okta nothing."""

import uuid
from dataclasses import replace

import pytest
import redis
from django.conf import settings

from offboarding import revocation, sync
from offboarding.clients.errors import BudgetReserved
from offboarding.clients.okta import OktaClient, forget_shared_pacers, shared_pacer
from offboarding.clients.pacing import HostRateBudget, PageReads, RateBudget, SharedRateBudget
from offboarding.live_reads import AUDITORS_NOTE
from offboarding.models import Case
from tests.client_fixtures import FAST

RESERVED = "live read skipped: Okta budget reserved for revocations"
# An hour's window, so a test does not straddle a reset; limits low enough to spend in a test.
LOW_LIMITS = {"GET /api/v1/users/{id}": 10, "/api/v1/users": 40, "/api/v1/groups": 40, "/api/v1": 40}


@pytest.fixture(autouse=True)
def _fresh_pacers():
    """The process's pacers forget the windows a test spent, so no later test meets them."""
    forget_shared_pacers()
    yield
    forget_shared_pacers()


@pytest.fixture
def synced_case(leaver):
    person = leaver()
    sync.sync_workday()
    return Case.objects.get(termination__employee_id=person["employee_id"])


def user_reads(sandbox, case: Case) -> int:
    """How many times Okta was asked for the case's user (the page's first live call)."""
    return sum(1 for r in sandbox.requests("okta") if r["path"] == f"/api/v1/users/{case.okta_user_id}")


def load(client, case: Case) -> str:
    response = client.get(case.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def remaining(pacer, family: str) -> int:
    return next(f.remaining for f in pacer.snapshot().families if f.family == family)


def make_budget(kind: str, sandbox, tmp_path, **options) -> RateBudget:
    """A budget of its own for the test, kept where production keeps it: in a file for one host's workers, or in
    Redis for every host's."""
    org = f"{sandbox.okta_url}#{uuid.uuid4().hex}"
    if kind == "host file":
        return HostRateBudget(tmp_path, org, **options)
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is needed for the shared budget and does not answer at {settings.REDIS_URL}")
    return SharedRateBudget(client, org, **options)


class TestBudgetReservedForRevocations:
    @pytest.mark.sandbox(rate_limits=LOW_LIMITS, rate_limit_window=3600)
    def test_a_page_read_is_refused_while_revocation_calls_still_proceed(
        self, client, approver, approved_case, sandbox, settings
    ):
        settings.OKTA_BUDGET_RESERVED_FOR_REVOCATION = 0.5
        settings.OKTA_LIVE_READ_CACHE_SECONDS = 0
        case = approved_case()
        client.force_login(approver)
        assert "Okta user (live)" in load(client, case)  # the window is still mostly unspent
        worker = OktaClient.from_settings(policy=FAST)  # a revocation's client: the same shared budget
        while remaining(shared_pacer(settings.OKTA_ORG_URL), "GET /api/v1/users/{id}") > 5:
            worker.get_user(case.okta_user_id)
        asked = len(sandbox.requests("okta"))
        body = load(client, case)
        assert RESERVED in body
        assert "Okta user (live)" not in body
        assert case.okta_login in body  # the stored state instead
        assert len(sandbox.requests("okta")) == asked  # nothing was sent
        assert revocation.run_case(case.pk) == "completed"
        assert sandbox.okta_user(case.okta_user_id)["status"] == "DEPROVISIONED"
        assert 429 not in [r["status"] for r in sandbox.requests("okta")]

    @pytest.mark.parametrize("kind", ["host file", "shared through Redis"])
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 10}, rate_limit_window=3600)
    def test_reads_take_only_the_unreserved_share_of_a_window(self, sandbox, tmp_path, kind):
        user_id = sandbox.okta_users()[0]["id"]
        budget = make_budget(kind, sandbox, tmp_path)
        policy = replace(FAST, max_attempts=1)
        pages = OktaClient.from_settings(policy=policy, pacer=PageReads(budget, 0.5))
        worker = OktaClient.from_settings(policy=policy, pacer=budget)
        reads = 0
        with pytest.raises(BudgetReserved):
            while True:
                pages.get_user(user_id)
                reads += 1
        assert reads == 5  # half of the window's 10 calls
        for _ in range(5):
            worker.get_user(user_id)  # the reserved half is the revocations'
        assert [r["status"] for r in sandbox.requests("okta")] == [200] * 10

    @pytest.mark.parametrize("kind", ["host file", "shared through Redis"])
    def test_reads_take_only_the_unreserved_share_of_the_calls_in_flight(self, sandbox, tmp_path, kind):
        pacer = make_budget(kind, sandbox, tmp_path, max_concurrency=4)
        pacer.before_request("DELETE", "/api/v1/groups/g1/users/u1")
        pacer.before_request("DELETE", "/api/v1/groups/g2/users/u1")
        with pytest.raises(BudgetReserved):
            pacer.take_unreserved("GET", "/api/v1/users/u1", 0.5)
        pacer.release("DELETE", "/api/v1/groups/g1/users/u1")
        pacer.take_unreserved("GET", "/api/v1/users/u1", 0.5)
        assert pacer.snapshot().calls_in_flight == 2


class TestLiveReadsOnCasePages:
    def test_two_loads_of_a_case_make_one_okta_read(self, client, approver, make_user, synced_case, sandbox):
        client.force_login(approver)
        sandbox.clear_requests()
        first, second = load(client, synced_case), load(client, synced_case)
        client.force_login(make_user("erin", "approvers"))
        third = load(client, synced_case)
        assert all("Okta user (live)" in body for body in (first, second, third))
        assert user_reads(sandbox, synced_case) == 1

    def test_the_read_is_made_again_once_its_time_is_up(self, client, approver, synced_case, sandbox, settings):
        settings.OKTA_LIVE_READ_CACHE_SECONDS = 0
        client.force_login(approver)
        sandbox.clear_requests()
        load(client, synced_case)
        load(client, synced_case)
        assert user_reads(sandbox, synced_case) == 2

    def test_each_user_may_make_only_so_many_reads_a_minute(
        self, client, approver, make_user, synced_case, sandbox, settings
    ):
        settings.OKTA_LIVE_READ_CACHE_SECONDS = 0
        settings.OKTA_LIVE_READS_PER_USER_PER_MINUTE = 2
        client.force_login(approver)
        sandbox.clear_requests()
        bodies = [load(client, synced_case) for _ in range(3)]
        assert ["Okta user (live)" in body for body in bodies] == [True, True, False]
        assert "OKTA_LIVE_READS_PER_USER_PER_MINUTE" in bodies[2]
        assert user_reads(sandbox, synced_case) == 2
        client.force_login(make_user("erin", "approvers"))
        assert "Okta user (live)" in load(client, synced_case)  # another user has reads of their own
        assert user_reads(sandbox, synced_case) == 3

    def test_an_auditors_page_makes_no_okta_call(self, client, auditor, synced_case, sandbox):
        client.force_login(auditor)
        sandbox.clear_requests()
        body = load(client, synced_case)
        assert sandbox.requests("okta") == []
        assert AUDITORS_NOTE.replace("'", "&#x27;") in body
        assert synced_case.okta_login in body
        assert "VPN Users E100" in body  # the plan stored at review
