"""Environment for the test run, loaded by pytest before Django's settings.

A developer's own `.env` is ignored so the suite behaves the same everywhere;
DATABASE_URL and Q_BROKER/REDIS_URL still come from the caller, so CI can run
the suite on PostgreSQL with Redis.
"""

import os

os.environ["OFFBOARDING_IGNORE_DOTENV"] = "1"
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("AUTH_MODE", "local")
os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-django-checks-0123456789")
# The audit log's key for the test run (a real deployment's comes from AUDIT_KEY or AUDIT_KEY_FILE).
os.environ.setdefault("AUDIT_KEY", "test-audit-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
# A queue of this run's own in the broker, so two runs sharing a Redis never take each other's tasks.
os.environ.setdefault("Q_CLUSTER_NAME", f"offboarding-test-{os.getpid()}")
# The cache: this process's memory unless the caller gives CACHE_URL (CI: a Redis database of the cache's own),
# so a test without the database can still use it. Keys of this run's own (each xdist worker is a process), so
# runs and workers sharing a Redis never read each other's counts; conftest's `_empty_cache` adds the test's.
os.environ.setdefault("CACHE_URL", "locmem://")
os.environ.setdefault("CACHE_KEY_PREFIX", f"offboarding-test-{os.getpid()}")


def pytest_configure(config):
    """Passwords hashed with MD5 for the test run only: the production hasher takes ~0.25 s a user.

    Django is set up by now (pytest-django does it first); override_settings tells the hashers'
    cache. Production keeps Django's default hashers: nothing here is read outside pytest.
    """
    from django.test import override_settings

    override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]).enable()
