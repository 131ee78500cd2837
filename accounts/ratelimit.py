"""Counts in Django's cache that limit what one client may do: failed local sign-ins per username and per
client address here, refused Workday pushes per address in offboarding/api.py (`hit`).

A small limiter rather than a library: the local login exists only in development (AUTH_MODE=local
needs DEBUG; production signs in through ADFS, which has its own lockout) and the push needs only a
count per address, so two views are all it guards, and a library such as django-axes would add an
app, a backend, a middleware and tables to every deployment for them. The counts are shared by every web
process: the cache is the database's table or a Redis (CACHE_URL; offboarding/checks.py fails a per-process
one for several web workers).
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.core.cache import cache

from offboarding.models import Actor, AuditEvent

# After this many failures the username (or address) is refused for LOCKOUT_SECONDS.
FAILURES_PER_USERNAME = 5
FAILURES_PER_ADDRESS = 20
LOCKOUT_SECONDS = 15 * 60


def _keys(request, username: str) -> list[tuple[str, int]]:
    address = request.META.get("REMOTE_ADDR", "")
    return [
        (f"login-failures:user:{username.strip().casefold()}", FAILURES_PER_USERNAME),
        (f"login-failures:addr:{address}", FAILURES_PER_ADDRESS),
    ]


def is_locked(request, username: str) -> bool:
    return any(cache.get(key, 0) >= limit for key, limit in _keys(request, username))


def hit(key: str, seconds: int) -> int:
    """Count one more under `key`, a count that lasts `seconds` from its first hit; the count now."""
    cache.add(key, 0, seconds)
    try:
        return cache.incr(key)
    except ValueError:  # expired in between
        cache.set(key, 1, seconds)
        return 1


def record_failure(request, username: str) -> None:
    for key, _ in _keys(request, username):
        hit(key, LOCKOUT_SECONDS)


def clear(request, username: str) -> None:
    cache.delete(_keys(request, username)[0][0])


class RateLimitedLoginView(auth_views.LoginView):
    # Django's form views take PUT as POST; signing in takes a POST only.
    http_method_names = ["get", "post", "head", "options"]

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if is_locked(request, username):
            AuditEvent.record(
                "auth.login_refused",
                actor=Actor("anonymous"),
                obj=f"login {username[:150]}",
                after={
                    "username": username[:150],
                    "address": request.META.get("REMOTE_ADDR", ""),
                    "why": "too many failures",
                },
            )
            response = self.render_to_response(self.get_context_data(form=self.get_form(), locked=True))
            response.status_code = 429
            return response
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            clear(request, username)
        else:
            record_failure(request, username)
        return response
