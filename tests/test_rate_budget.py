"""The shared rate-limit budget: many workers together stay inside Okta's limits instead of being refused."""

import threading
import time
import uuid
from dataclasses import replace

import pytest
import redis
from django.conf import settings

from offboarding.clients.okta import OktaClient
from offboarding.clients.pacing import Deferring, SharedRateBudget
from tests.client_fixtures import FAST
from tests.fake_clock import FakeClock

POLICY = replace(FAST, max_rate_limit_wait=10)


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is needed for the shared budget and does not answer at {settings.REDIS_URL}")
    return client


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


class TestSharedRateBudget:
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 10}, rate_limit_window=2)
    def test_workers_sharing_it_are_not_refused(self, sandbox, redis_client):
        user_id = sandbox.okta_users()[0]["id"]
        org = f"{sandbox.okta_url}#{uuid.uuid4().hex}"
        # One clock for the workers (each one's wait moves it on for all) and for Okta.
        clock = FakeClock(now=time.time(), then=sandbox.advance_clock)
        started = clock.now

        def budget():
            return SharedRateBudget(redis.Redis.from_url(settings.REDIS_URL), org, clock=clock.time, sleep=clock.sleep)

        errors = run_workers(4, 8, budget, sandbox, user_id, clock)
        elapsed = clock.now - started
        statuses = [r["status"] for r in sandbox.requests("okta") if r["path"] == f"/api/v1/users/{user_id}"]
        assert errors == []
        assert statuses.count(200) == 32
        assert 429 not in statuses
        assert elapsed >= 2  # 32 calls at 10 per 2-second window cannot fit in one window

    # An hour's window, so the test does not straddle a reset.
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 10}, rate_limit_window=3600)
    def test_it_spends_the_whole_window_and_then_waits_for_the_reset(self, sandbox, redis_client):
        user_id = sandbox.okta_users()[0]["id"]
        waits: list[float] = []

        class Waited(Exception):
            pass

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            raise Waited

        org = f"{sandbox.okta_url}#{uuid.uuid4().hex}"
        client = worker_client(sandbox, SharedRateBudget(redis.Redis.from_url(settings.REDIS_URL), org, sleep=sleep))
        for _ in range(10):
            client.get_user(user_id)
        assert waits == []
        with pytest.raises(Waited):
            client.get_user(user_id)
        assert len(waits) == 1 and 0 < waits[0] <= 3600
        assert [r["status"] for r in sandbox.requests("okta")] == [200] * 10

    @pytest.mark.sandbox(concurrency_limit=3)
    def test_it_caps_calls_in_flight_across_workers(self, sandbox, redis_client):
        sandbox.fault("okta", "latency", "GET /api/v1/users/*", seconds=0.2)
        user_id = sandbox.okta_users()[0]["id"]
        org = f"{sandbox.okta_url}#{uuid.uuid4().hex}"
        errors = run_workers(
            6,
            3,
            lambda: SharedRateBudget(redis.Redis.from_url(settings.REDIS_URL), org, max_concurrency=3),
            sandbox,
            user_id,
        )
        statuses = [r["status"] for r in sandbox.requests("okta")]
        assert errors == []
        assert 429 not in statuses
        assert statuses.count(200) == 18

    def test_a_dead_workers_calls_stop_counting(self, sandbox, redis_client):
        org = f"{sandbox.okta_url}#{uuid.uuid4().hex}"
        clock = FakeClock(now=time.time())
        budget = {"max_concurrency": 1, "stale_after": 0.5, "clock": clock.time, "sleep": clock.sleep}
        dead = SharedRateBudget(redis.Redis.from_url(settings.REDIS_URL), org, **budget)
        dead.before_request("GET", "/api/v1/users/x")  # never released: the worker was killed
        alive = SharedRateBudget(redis.Redis.from_url(settings.REDIS_URL), org, **budget)
        started = clock.now
        alive.before_request("GET", "/api/v1/users/x")
        assert clock.now - started >= 0.5  # it waited until the dead call went stale
        alive.release("GET", "/api/v1/users/x")

    # An hour's window: 10 calls, half of them reserved for revocations.
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 10}, rate_limit_window=3600)
    def test_a_syncs_lookups_leave_the_reserved_share_to_revocations(self, sandbox, redis_client):
        user_id = sandbox.okta_users()[0]["id"]
        waits: list[float] = []

        class Waited(Exception):
            pass

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            raise Waited

        org = f"{sandbox.okta_url}#{uuid.uuid4().hex}"
        budget = SharedRateBudget(redis.Redis.from_url(settings.REDIS_URL), org, sleep=sleep)
        lookups, revocations = worker_client(sandbox, Deferring(budget, 0.5)), worker_client(sandbox, budget)
        for _ in range(5):
            lookups.get_user(user_id)
        with pytest.raises(Waited):
            lookups.get_user(user_id)  # only the reserved half is left: a lookup waits for the reset
        assert len(waits) == 1 and 0 < waits[0] <= 3600
        for _ in range(5):
            revocations.get_user(user_id)
        assert len(waits) == 1
        assert [r["status"] for r in sandbox.requests("okta")] == [200] * 10
