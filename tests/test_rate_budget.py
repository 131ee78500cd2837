"""The shared rate-limit budget: many workers together stay inside Okta's limits instead of being refused.

Every scenario here runs against both of its stores: Redis (`SharedRateBudget`, every worker on every host;
Redis must answer at REDIS_URL) and a file under a lock (`HostRateBudget`, every worker process of one host).
What only one store shows, e.g. separate processes sharing the file, is in tests/test_host_rate_budget.py.
"""

import threading
import time
import uuid
from dataclasses import replace

import pytest
import redis
from django.conf import settings

from offboarding.clients.okta import OktaClient
from offboarding.clients.pacing import Deferring, HostRateBudget, SharedRateBudget
from tests.client_fixtures import FAST
from tests.fake_clock import FakeClock

POLICY = replace(FAST, max_rate_limit_wait=10)


def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is needed for the shared budget and does not answer at {settings.REDIS_URL}")
    return client


@pytest.fixture(params=["redis", "host file"])
def make_budget(request, sandbox, tmp_path):
    """`make_budget(**options)`: one worker's budget, sharing its store with every other this test makes."""
    org = f"{sandbox.okta_url}#{uuid.uuid4().hex}"
    if request.param == "redis":
        redis_client()
        return lambda **options: SharedRateBudget(redis.Redis.from_url(settings.REDIS_URL), org, **options)
    return lambda **options: HostRateBudget(tmp_path, org, **options)


def worker_client(sandbox, pacer, clock: FakeClock | None = None) -> OktaClient:
    clocks = {"clock": clock.monotonic, "sleep": clock.sleep} if clock else {}
    return OktaClient.from_settings(policy=POLICY, pacer=pacer, **clocks)


def run_workers(
    count: int, calls_each: int, make_pacer, sandbox, user_id: str, clock: FakeClock | None = None
) -> list[Exception]:
    errors: list[Exception] = []

    def work():
        client = worker_client(sandbox, make_pacer(), clock)
        for _ in range(calls_each):
            try:
                client.get_user(user_id)
            except Exception as e:  # noqa: BLE001 - collected and asserted on below
                errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


class Waited(Exception):
    pass


@pytest.fixture
def waits() -> list[float]:
    """The sleeps asked of `sleep_once`: the first one ends the call (Waited), so no test waits for a reset."""
    return []


@pytest.fixture
def sleep_once(waits):
    def sleep(seconds: float) -> None:
        waits.append(seconds)
        raise Waited

    return sleep


class TestSharedRateBudget:
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 10}, rate_limit_window=2)
    def test_workers_sharing_it_are_not_refused(self, sandbox, make_budget):
        user_id = sandbox.okta_users()[0]["id"]
        # One clock for the workers (each one's wait moves it on for all) and for Okta.
        clock = FakeClock(now=time.time(), then=sandbox.advance_clock)
        started = clock.now
        errors = run_workers(4, 8, lambda: make_budget(clock=clock.time, sleep=clock.sleep), sandbox, user_id, clock)
        elapsed = clock.now - started
        statuses = [r["status"] for r in sandbox.requests("okta") if r["path"] == f"/api/v1/users/{user_id}"]
        assert errors == []
        assert statuses.count(200) == 32
        assert 429 not in statuses
        assert elapsed >= 2  # 32 calls at 10 per 2-second window cannot fit in one window

    # An hour's window, so the test does not straddle a reset.
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 10}, rate_limit_window=3600)
    def test_it_spends_the_whole_window_and_then_waits_for_the_reset(self, sandbox, make_budget, waits, sleep_once):
        user_id = sandbox.okta_users()[0]["id"]
        budget = make_budget(sleep=sleep_once)
        client = worker_client(sandbox, budget)
        for _ in range(10):
            client.get_user(user_id)
        assert waits == []
        with pytest.raises(Waited):
            client.get_user(user_id)
        assert len(waits) == 1 and 0 < waits[0] <= 3600
        assert [r["status"] for r in sandbox.requests("okta")] == [200] * 10
        assert budget.snapshot().families[0].remaining == 0

    @pytest.mark.sandbox(concurrency_limit=3)
    def test_it_caps_calls_in_flight_across_workers(self, sandbox, make_budget):
        sandbox.fault("okta", "latency", "GET /api/v1/users/*", seconds=0.2)
        user_id = sandbox.okta_users()[0]["id"]
        errors = run_workers(6, 3, lambda: make_budget(max_concurrency=3), sandbox, user_id)
        statuses = [r["status"] for r in sandbox.requests("okta")]
        assert errors == []
        assert 429 not in statuses
        assert statuses.count(200) == 18

    def test_a_dead_workers_calls_stop_counting(self, make_budget):
        clock = FakeClock(now=time.time())
        budget = {"max_concurrency": 1, "stale_after": 0.5, "clock": clock.time, "sleep": clock.sleep}
        make_budget(**budget).before_request("GET", "/api/v1/users/x")  # never released: the worker was killed
        alive = make_budget(**budget)
        started = clock.now
        alive.before_request("GET", "/api/v1/users/x")
        assert clock.now - started >= 0.5  # it waited until the dead call went stale
        alive.release("GET", "/api/v1/users/x")
        assert alive.snapshot().calls_in_flight == 0


class TestLookupsDeferToRevocations:
    """The whole report's lookups (Deferring) spend only the part of a window not reserved for revocations."""

    # An hour's window: 10 calls, half of them reserved for revocations.
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 10}, rate_limit_window=3600)
    def test_a_lookup_waits_for_the_reset_once_only_the_reserved_share_is_left(
        self, sandbox, make_budget, waits, sleep_once
    ):
        user_id = sandbox.okta_users()[0]["id"]
        budget = make_budget(sleep=sleep_once)
        lookups, revocations = worker_client(sandbox, Deferring(budget, 0.5)), worker_client(sandbox, budget)
        for _ in range(5):
            lookups.get_user(user_id)
        with pytest.raises(Waited):
            lookups.get_user(user_id)  # 5 of 10 left: the reserved half, which a lookup waits for the reset over
        assert len(waits) == 1 and 0 < waits[0] <= 3600
        for _ in range(5):
            revocations.get_user(user_id)  # a revocation's calls spend it
        assert len(waits) == 1
        assert [r["status"] for r in sandbox.requests("okta")] == [200] * 10

    def test_lookups_join_only_their_share_of_the_calls_in_flight(self, make_budget):
        clock = FakeClock(now=time.time())
        budget = make_budget(max_concurrency=4, clock=clock.time, sleep=clock.sleep)
        lookups = Deferring(budget, 0.5)
        for _ in range(2):
            lookups.before_request("GET", "/api/v1/users")
        budget.before_request("GET", "/api/v1/users")  # a revocation's call still goes: 3 of 4 in flight
        assert budget.snapshot().calls_in_flight == 3
        started = clock.now
        budget.stale_after = 0.5  # the two lookups' slots free up only as they go stale
        lookups.before_request("GET", "/api/v1/users")
        assert clock.now - started >= 0.5
