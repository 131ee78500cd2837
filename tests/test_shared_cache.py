"""The cache every web process shares (CACHE_URL, by default the database's table): a limit counted in one
process holds in the next, so several gunicorn workers or hosts do not each get their own allowance."""

import pytest

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


@pytest.mark.django_db(transaction=True)
class TestSharedCache:
    def test_two_web_processes_share_the_login_throttles_count(self, request):
        # The default CACHE_URL (db://), on this test run's database, under keys of this test's own.
        env = {"DEBUG": "true", "DATABASE_URL": database_url(), "CACHE_KEY_PREFIX": f"shared-{request.node.name}"}
        first = manage("shell", "--no-imports", "-c", FAIL_AND_ASK.format(n=FAILURES_PER_USERNAME - 1), **env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.split() == ["open"]

        # Another process: with a cache of its own it would start from nothing and stay open.
        second = manage("shell", "--no-imports", "-c", FAIL_AND_ASK.format(n=1), **env)
        assert second.returncode == 0, second.stderr
        assert second.stdout.split() == ["locked"]
