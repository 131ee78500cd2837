"""The cache every web process shares (CACHE_URL, by default the database's table): a limit counted in one
process holds in the next, so several gunicorn workers or hosts do not each get their own allowance."""

import pytest
import redis
from django.conf import settings

from accounts.ratelimit import FAILURES_PER_USERNAME
from tests.processes import database_url, manage

# One web process's share of the failures: it records them and says whether the username is now locked.
FAIL_AND_ASK = """
from django.test import RequestFactory
from accounts import ratelimit
request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="203.0.113.9")
for _ in range({n}):
    ratelimit.record_failure(request, "mallory")
print("locked" if ratelimit.is_locked(request, "mallory") else "open")
"""


def redis_cache_url() -> str:
    """A Redis database beside the broker's (the next number), never the broker's own."""
    broker = redis.connection.parse_url(settings.REDIS_URL)
    client = redis.Redis(host=broker.get("host", "localhost"), port=broker.get("port", 6379))
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is needed for a shared cache and does not answer at {settings.REDIS_URL}")
    return f"redis://{broker.get('host', 'localhost')}:{broker.get('port', 6379)}/{(broker.get('db', 0) + 1) % 16}"


@pytest.mark.django_db(transaction=True)
class TestSharedCache:
    @pytest.mark.parametrize("backend", ["db", "redis"])
    def test_two_web_processes_share_the_login_throttles_count(self, request, backend):
        # On this test run's database, under keys of this run's and test's own; db:// is the default.
        env = {
            "DEBUG": "true",
            "DATABASE_URL": database_url(),
            "CACHE_URL": redis_cache_url() if backend == "redis" else "db://",
            "CACHE_KEY_PREFIX": f"{settings.CACHES['default']['KEY_PREFIX']}-{request.node.name}",
        }
        first = manage("shell", "--no-imports", "-c", FAIL_AND_ASK.format(n=FAILURES_PER_USERNAME - 1), **env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.split() == ["open"]

        # Another process: with a cache of its own it would start from nothing and stay open.
        second = manage("shell", "--no-imports", "-c", FAIL_AND_ASK.format(n=1), **env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.split() == ["locked"]
