"""Slowing down before Okta says 429, from the X-Rate-Limit-* headers of its own answers.

Per process for now: each family's last seen limit, remaining count and reset time. When the
remaining count runs low, the next calls are spread over what is left of the window, and once
it is spent they wait for the reset. A shared budget across workers can replace this class
without touching the client (anything with `before_request` and `observe` will do).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from .transport import server_clock_offset

log = logging.getLogger("offboarding.clients.okta")


def okta_rate_limit_family(method: str, path: str) -> str:
    """Okta counts its limits per endpoint family; reading one user has its own, larger one."""
    parts = [p for p in path.split("/") if p]
    if "api" in parts:
        parts = parts[parts.index("api") :]
    if method == "GET" and len(parts) == 4 and parts[2] == "users":
        return "GET /api/v1/users/{id}"
    return "/" + "/".join(parts[:3])


@dataclass
class _Window:
    limit: int
    remaining: int
    resets_at: float  # our monotonic clock


class RateLimitPacer:
    def __init__(
        self,
        *,
        slow_below: float = 0.1,
        max_wait: float = 60.0,
        family: Callable[[str, str], str] = okta_rate_limit_family,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`slow_below`: the fraction of the limit under which calls are spread out."""
        self.slow_below = slow_below
        self.max_wait = max_wait
        self.family = family
        self.sleep = sleep
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def before_request(self, method: str, path: str) -> None:
        family = self.family(method, path)
        with self._lock:
            window = self._windows.get(family)
            now = time.monotonic()
            if window is None or window.resets_at <= now:
                return
            if window.remaining > max(1, window.limit * self.slow_below):
                return
            left = window.resets_at - now
            wait = left / (window.remaining + 1) if window.remaining > 0 else left
            # Count this call now, so concurrent callers spread out instead of all waiting alike.
            window.remaining = max(0, window.remaining - 1)
        wait = min(wait, self.max_wait)
        log.info("okta: %s has %d of %d calls left, waiting %.2fs", family, window.remaining, window.limit, wait)
        self.sleep(wait)

    def observe(self, method: str, path: str, response: requests.Response) -> None:
        try:
            limit = int(response.headers["X-Rate-Limit-Limit"])
            remaining = int(response.headers["X-Rate-Limit-Remaining"])
            reset = float(response.headers["X-Rate-Limit-Reset"])
        except (KeyError, ValueError):
            return
        seconds_left = reset - (time.time() + server_clock_offset(response))
        with self._lock:
            self._windows[self.family(method, path)] = _Window(limit, remaining, time.monotonic() + seconds_left)
