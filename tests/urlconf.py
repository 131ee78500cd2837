"""Our pages, read from the URL configuration, for the access and security tests: a new page cannot be
forgotten by them.
"""

from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

# Workday's push authenticates by its signature (tests/test_push.py), /metrics by its token or the client's network
# (tests/test_metrics.py), not by a session.
OPEN_TO_ANYONE = {"login", "healthz", "workday_events", "metrics"}
ANY_SIGNED_IN_USER = {"logout"}
# The fixtures each role is signed in as ("anonymous": nobody).
WHO = ["anonymous", "no_role_user", "approver", "auditor", "admin_user"]


def patterns(resolver: URLResolver | None = None, prefix: str = "") -> list[tuple[str, list[str]]]:
    """(name, its URL keyword arguments) of every named page of ours; the admin has its own checks."""
    found = []
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name != "admin":
                found += patterns(pattern, prefix + (f"{pattern.namespace}:" if pattern.namespace else ""))
        elif isinstance(pattern, URLPattern) and pattern.name:
            found.append((prefix + pattern.name, list(getattr(pattern.pattern, "converters", {}))))
    return found


def named_urls() -> list[str]:
    """The name of every named page of ours (the admin has its own sign-in and is checked separately)."""
    return [name for name, _ in patterns()]


def url_of(name: str) -> str:
    for args in ([], [1]):
        try:
            return reverse(name, args=args)
        except Exception:  # noqa: S112 - the next argument list may fit
            continue
    raise AssertionError(f"cannot build a URL for {name}")


def is_open(name: str, kwargs: list[str]) -> bool:
    """Marked `login_not_required` on purpose (a machine-to-machine endpoint checks its own credentials)."""
    return getattr(resolve(reverse(name, kwargs=dict.fromkeys(kwargs, 1))).func, "login_required", True) is False


def url_for(name: str, kwargs: list[str], objects: dict) -> str:
    return reverse(name, kwargs={k: objects.get(k, 1) for k in kwargs})


# Every page behind a role: (name, its URL keyword arguments).
PAGES = sorted(p for p in patterns() if p[0] not in OPEN_TO_ANYONE | ANY_SIGNED_IN_USER and not is_open(*p))
