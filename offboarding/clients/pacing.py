"""Slowing down before Okta says 429, from the X-Rate-Limit-* headers of its own answers.

Three pacers, alike to the client (`before_request`, `observe`, `release`):

- `SharedRateBudget`, shared by every worker on every host through Redis: the remaining count
  Okta reported, minus the calls in flight everywhere, is what any worker may still spend in
  this window; past it, workers wait for the reset instead of being refused. It also caps the
  calls in flight across all workers below Okta's org-wide concurrency limit. The Redis broker's.
- `HostRateBudget`, the same budget for every worker process of one host, kept in a file under a lock
  (OKTA_BUDGET_DIR). The ORM broker's: its workers are processes too, and each pacing itself could not
  see the others' calls in flight.
- `RateLimitPacer`, one process's own: each family's last seen limit, remaining count and reset time.
  When the remaining count runs low, the next calls are spread over what is left of the window,
  and once it is spent they wait for the reset. For a client outside the cluster (and tests).

Both keep a share of each window for revocations: `take_unreserved` (what `PageReads` calls instead of
`before_request`) lets a read a page makes spend only the part of the remaining count, and of the calls in
flight, above that share, and refuses it (BudgetReserved) rather than waiting. Revocations' calls take
the whole budget as before. `snapshot` tells what is left, for the metrics.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from .errors import BudgetReserved
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


def rate_limit_window(response: requests.Response) -> tuple[int, int, float] | None:
    """(limit, remaining, reset epoch) from Okta's headers, or None when the answer carries no window."""
    try:
        limit = int(response.headers["X-Rate-Limit-Limit"])
        remaining = int(response.headers["X-Rate-Limit-Remaining"])
        reset = float(response.headers["X-Rate-Limit-Reset"])
    except (KeyError, ValueError):
        return None
    # A concurrency refusal says X-Rate-Limit-Limit: 0; it is not a window.
    return (limit, remaining, reset) if limit > 0 else None


RESERVED_SUMMARY = "live read skipped: Okta budget reserved for revocations"


def _reserved(method: str, path: str) -> BudgetReserved:
    return BudgetReserved("okta", RESERVED_SUMMARY, method=method, path=path)


def unreserved_slots(max_concurrency: int, reserved: float) -> int:
    """How many calls in flight a page's reads may join: the share of the cap that is not reserved."""
    return int(max_concurrency * (1 - reserved))


@dataclass(frozen=True)
class FamilyBudget:
    """One endpoint family's window as last reported by Okta: what is left of it and when it resets."""

    family: str
    limit: int
    remaining: int
    resets_in: float  # seconds; <= 0 once the window has reset (a new one is not seen yet)


@dataclass(frozen=True)
class BudgetSnapshot:
    families: list[FamilyBudget]
    calls_in_flight: int


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
        max_concurrency: int = 20,
        family: Callable[[str, str], str] = okta_rate_limit_family,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`slow_below`: the fraction of the limit under which calls are spread out; `clock` (monotonic
        seconds) and `sleep` are the real ones unless a test gives a fake pair."""
        self.slow_below = slow_below
        self.max_wait = max_wait
        self.family = family
        self.clock = clock
        self.sleep = sleep
        self.max_concurrency = max_concurrency
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self._in_flight = threading.BoundedSemaphore(max_concurrency)
        self._calls_in_flight = 0

    def before_request(self, method: str, path: str) -> None:
        self._wait_for_budget(method, path)
        self._in_flight.acquire()
        with self._lock:
            self._calls_in_flight += 1

    def take_unreserved(self, method: str, path: str, reserved: float) -> None:
        """Count this call if it fits in the unreserved part of its window and of the calls in flight;
        BudgetReserved, at once, if not."""
        family = self.family(method, path)
        with self._lock:
            window = self._windows.get(family)
            current = window is not None and window.resets_at > self.clock()
            if current and window.remaining <= window.limit * reserved:
                raise _reserved(method, path)
            if self._calls_in_flight >= unreserved_slots(self.max_concurrency, reserved):
                raise _reserved(method, path)
            if not self._in_flight.acquire(blocking=False):
                raise _reserved(method, path)
            self._calls_in_flight += 1
            if current:
                window.remaining = max(0, window.remaining - 1)

    def release(self, method: str, path: str) -> None:
        with self._lock:
            self._calls_in_flight = max(0, self._calls_in_flight - 1)
        self._in_flight.release()

    def forget(self) -> None:
        """Drop every window seen (the next call learns them again), as after a change of Okta's limits."""
        with self._lock:
            self._windows.clear()

    def snapshot(self) -> BudgetSnapshot:
        """This process's view: the windows its own calls were told of, and its own calls in flight."""
        with self._lock:
            now = self.clock()
            families = [
                FamilyBudget(family, w.limit, w.remaining, w.resets_at - now) for family, w in self._windows.items()
            ]
            return BudgetSnapshot(sorted(families, key=lambda f: f.family), self._calls_in_flight)

    def _wait_for_budget(self, method: str, path: str) -> None:
        family = self.family(method, path)
        with self._lock:
            window = self._windows.get(family)
            now = self.clock()
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
        if not (window := rate_limit_window(response)):
            return
        limit, remaining, reset = window
        seconds_left = reset - (time.time() + server_clock_offset(response))
        with self._lock:
            self._windows[self.family(method, path)] = _Window(limit, remaining, self.clock() + seconds_left)


# Atomic in Redis: may this call go now? "-1" yes (and it is counted), else seconds to wait. A call of lower
# priority (`reserve` > 0, the share kept for revocations; `max_calls` its share of the calls in flight) may
# use only the rest of the window: a page's read is "refused" past it, a sync's lookup (`defer` = 1) waits.
_TAKE = """
local budget, calls = KEYS[1], KEYS[2]
local now, margin, max_calls = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local token, stale, reserve = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6] or '0')
local refuse = reserve > 0 and ARGV[7] ~= '1'
redis.call('ZREMRANGEBYSCORE', calls, '-inf', now - stale)
if redis.call('ZCARD', calls) >= max_calls then
  if refuse then return 'refused' end
  return '0.02'
end
local reset = tonumber(redis.call('HGET', budget, 'reset') or '0')
if reset > now then
  local in_flight = tonumber(redis.call('HGET', budget, 'in_flight') or '0')
  local left = tonumber(redis.call('HGET', budget, 'remaining')) - in_flight
  if reserve > 0 and left <= margin + tonumber(redis.call('HGET', budget, 'limit')) * reserve then
    if refuse then return 'refused' end
    return tostring(reset - now)
  end
  if left <= margin then return tostring(reset - now) end
end
redis.call('HINCRBY', budget, 'in_flight', 1)
redis.call('ZADD', calls, now, token)
redis.call('EXPIRE', calls, math.ceil(stale))
return '-1'
"""

# What Okta said is left in its current window; a newer window replaces an older one.
_OBSERVE = """
local budget, families = KEYS[1], KEYS[2]
local limit, remaining, reset = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('SADD', families, ARGV[4])
redis.call('EXPIRE', families, 86400)
local known = tonumber(redis.call('HGET', budget, 'reset') or '0')
if reset > known then
  redis.call('HSET', budget, 'limit', limit, 'remaining', remaining, 'reset', reset)
elseif reset == known and remaining < tonumber(redis.call('HGET', budget, 'remaining')) then
  redis.call('HSET', budget, 'remaining', remaining)
end
redis.call('EXPIREAT', budget, math.ceil(reset) + 120)
"""

_RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(redis.call('HGET', KEYS[1], 'in_flight') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'in_flight', -1)
end
"""


class SharedRateBudget:
    """One rate-limit budget per Okta endpoint family for all workers, kept in Redis."""

    def __init__(
        self,
        redis_client,
        org_url: str,
        *,
        max_concurrency: int = 20,
        margin: int = 0,
        max_wait: float = 60.0,
        stale_after: float = 120.0,
        family: Callable[[str, str], str] = okta_rate_limit_family,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`clock` is epoch seconds here, as every worker on every host reads the same budget."""
        self.redis = redis_client
        self.prefix = f"offboarding:okta-budget:{org_url}"
        self.max_concurrency = max_concurrency
        self.margin = margin
        self.max_wait = max_wait
        self.stale_after = stale_after  # a call not released by then (its worker died) stops counting
        self.family = family
        self.clock = clock
        self.sleep = sleep
        self.clock_offset = 0.0
        self._take = redis_client.register_script(_TAKE)
        self._observe = redis_client.register_script(_OBSERVE)
        self._release = redis_client.register_script(_RELEASE)
        self._tokens = threading.local()

    def _keys(self, method: str, path: str) -> list[str]:
        return [f"{self.prefix}:{self.family(method, path)}", f"{self.prefix}:in-flight"]

    def _try(self, method: str, path: str, token: str, reserved: float, max_calls: int, defer: bool = False) -> str:
        now = self.clock() + self.clock_offset
        keys = self._keys(method, path)
        answer = self._take(keys, [now, self.margin, max_calls, token, self.stale_after, reserved, int(defer)])
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    def before_request(self, method: str, path: str) -> None:
        self.take_deferring(method, path, 0)

    def take_deferring(self, method: str, path: str, reserved: float) -> None:
        """Count this call once it fits in the part of its window, and of the calls in flight, not `reserved`
        for revocations (all of it when 0), waiting for the reset (or a free slot) until it does."""
        token = uuid.uuid4().hex
        slots = unreserved_slots(self.max_concurrency, reserved) if reserved else self.max_concurrency
        while True:
            wait = float(self._try(method, path, token, reserved, max(1, slots), defer=True))
            if wait < 0:
                self._tokens.current = token
                return
            if wait > 0.05:
                log.info("okta: %s budget spent, waiting %.2fs for the reset", self.family(method, path), wait)
            self.sleep(min(wait, self.max_wait))

    def observe(self, method: str, path: str, response: requests.Response) -> None:
        if not (window := rate_limit_window(response)):
            return
        limit, remaining, reset = window
        self.clock_offset = server_clock_offset(response, self.clock())
        family = self.family(method, path)
        self._observe([self._keys(method, path)[0], f"{self.prefix}:families"], [limit, remaining, reset, family])

    def release(self, method: str, path: str) -> None:
        token = getattr(self._tokens, "current", None)
        if token:
            self._release(self._keys(method, path), [token])
            self._tokens.current = None

    def take_unreserved(self, method: str, path: str, reserved: float) -> None:
        """Count this call if it fits in the unreserved part of its window (left after every worker's calls in
        flight) and of the calls in flight everywhere; BudgetReserved, at once, if not."""
        token = uuid.uuid4().hex
        # A share of 0 would be a revocation's call, which waits instead: the smallest share still refuses.
        slots = unreserved_slots(self.max_concurrency, reserved)
        if self._try(method, path, token, max(reserved, 1e-9), slots) == "refused":
            raise _reserved(method, path)
        self._tokens.current = token

    def forget(self) -> None:
        """Drop every window seen, for every worker (the next call learns them again)."""
        families = [f.decode() if isinstance(f, bytes) else f for f in self.redis.smembers(f"{self.prefix}:families")]
        self.redis.delete(*(f"{self.prefix}:{f}" for f in families), f"{self.prefix}:families")

    def snapshot(self) -> BudgetSnapshot:
        """Every worker's budget: each family's window as last reported, and the calls in flight everywhere."""
        now = self.clock() + self.clock_offset
        families = []
        for raw in sorted(self.redis.smembers(f"{self.prefix}:families")):
            family = raw.decode() if isinstance(raw, bytes) else raw
            window = {
                (k.decode() if isinstance(k, bytes) else k): float(v)
                for k, v in self.redis.hgetall(f"{self.prefix}:{family}").items()
            }
            if "limit" in window:
                left = int(window["remaining"] - window.get("in_flight", 0))
                families.append(FamilyBudget(family, int(window["limit"]), max(0, left), window["reset"] - now))
        in_flight = self.redis.zcount(f"{self.prefix}:in-flight", now - self.stale_after, "+inf")
        return BudgetSnapshot(families, int(in_flight))


class HostRateBudget:
    """One rate-limit budget per Okta endpoint family for every worker process of one host (the ORM broker),
    kept in a file under `directory` and changed only under an exclusive lock (flock) on it.

    The same rule as `SharedRateBudget`, which it stands in for where there is no Redis: the remaining count
    Okta reported, minus the calls in flight in every process, is what any worker may still spend in this
    window; past it, workers wait for the reset. Calls in flight across the host's processes stay under
    `max_concurrency`; a call not released after `stale_after` seconds (its process died) stops counting.
    A file, not the database: the workers' database is busy with the cases (SQLite takes one writer at a
    time), and three writes per Okta call would queue behind them; a lock on a small local file takes
    microseconds and is exactly as wide as the ORM broker's workers, one host.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        org_url: str,
        *,
        max_concurrency: int = 20,
        margin: int = 0,
        max_wait: float = 60.0,
        stale_after: float = 120.0,
        family: Callable[[str, str], str] = okta_rate_limit_family,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`clock` is epoch seconds here, as every process reads the same budget."""
        self.directory = Path(directory)
        self.path = self.directory / f"okta-{hashlib.sha256(org_url.encode()).hexdigest()[:16]}.json"
        self.max_concurrency = max_concurrency
        self.margin = margin
        self.max_wait = max_wait
        self.stale_after = stale_after
        self.family = family
        self.clock = clock
        self.sleep = sleep
        self.clock_offset = 0.0
        self._tokens = threading.local()

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict]:
        """The budget, read and written back under the lock: {"windows": {family: [limit, remaining, reset]},
        "calls": {token: [family, since]}} (epoch seconds on Okta's clock)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 1 << 20, 0)
            try:
                state = json.loads(raw) if raw.strip() else {}
            except ValueError:
                state = {}  # a torn write cannot happen under the lock; a foreign file is started afresh
            state.setdefault("windows", {})
            state.setdefault("calls", {})
            before = json.dumps(state)
            yield state
            after = json.dumps(state).encode()
            if after != before.encode():
                # Written over in place, padded with blanks to the old length: the file never shrinks, so a
                # write changes no size (a truncation is a journalled change of the file, ten times dearer).
                os.pwrite(fd, after.ljust(len(raw)), 0)
        finally:
            os.close(fd)  # and with it the lock

    def _now(self) -> float:
        return self.clock() + self.clock_offset

    def _try(self, family: str, token: str, reserved: float, max_calls: int, defer: bool = False) -> float | None:
        """None: the call is counted and may go; else the seconds to wait (0 for a page's read: refused)."""
        refuse = reserved > 0 and not defer
        with self._state() as state:
            now = self._now()
            calls = {t: c for t, c in state["calls"].items() if c[1] > now - self.stale_after}
            state["calls"] = calls
            if len(calls) >= max_calls:
                return 0.0 if refuse else 0.02
            window = state["windows"].get(family)
            if window and window[2] > now:
                limit, remaining, reset = window
                left = remaining - sum(1 for f, _ in calls.values() if f == family)
                if reserved > 0 and left <= self.margin + limit * reserved:
                    return 0.0 if refuse else reset - now
                if left <= self.margin:
                    return reset - now
            calls[token] = [family, now]
        return None

    def before_request(self, method: str, path: str) -> None:
        self.take_deferring(method, path, 0)

    def take_deferring(self, method: str, path: str, reserved: float) -> None:
        """Count this call once it fits in the part of its window, and of the calls in flight, not `reserved`
        for revocations (all of it when 0), waiting for the reset (or a free slot) until it does."""
        family, token = self.family(method, path), uuid.uuid4().hex
        slots = max(1, unreserved_slots(self.max_concurrency, reserved)) if reserved else self.max_concurrency
        while (wait := self._try(family, token, reserved, slots, defer=True)) is not None:
            if wait > 0.05:
                log.info("okta: %s budget spent, waiting %.2fs for the reset", family, wait)
            self.sleep(min(wait, self.max_wait))
        self._tokens.current = token

    def take_unreserved(self, method: str, path: str, reserved: float) -> None:
        """Count this call if it fits in the unreserved part of its window (left after every process's calls in
        flight) and of the calls in flight; BudgetReserved, at once, if not."""
        token = uuid.uuid4().hex
        slots = unreserved_slots(self.max_concurrency, reserved)
        if self._try(self.family(method, path), token, max(reserved, 1e-9), slots) is not None:
            raise _reserved(method, path)
        self._tokens.current = token

    def observe(self, method: str, path: str, response: requests.Response) -> None:
        """What Okta said is left in its current window; a newer window replaces an older one."""
        if not (window := rate_limit_window(response)):
            return
        limit, remaining, reset = window
        self.clock_offset = server_clock_offset(response, self.clock())
        family = self.family(method, path)
        with self._state() as state:
            known = state["windows"].get(family)
            if known is None or reset > known[2] or (reset == known[2] and remaining < known[1]):
                state["windows"][family] = [limit, remaining, reset]

    def release(self, method: str, path: str) -> None:
        token = getattr(self._tokens, "current", None)
        if token:
            with self._state() as state:
                state["calls"].pop(token, None)
            self._tokens.current = None

    def forget(self) -> None:
        """Drop every window seen, for every process (the next call learns them again)."""
        with self._state() as state:
            state["windows"] = {}

    def snapshot(self) -> BudgetSnapshot:
        """Every process's budget on this host: each family's window as last reported, and the calls in flight."""
        with self._state() as state:
            now = self._now()
            calls = [c for c in state["calls"].values() if c[1] > now - self.stale_after]
            families = [
                FamilyBudget(
                    family, int(limit), max(0, int(remaining) - sum(1 for f, _ in calls if f == family)), reset - now
                )
                for family, (limit, remaining, reset) in sorted(state["windows"].items())
            ]
        return BudgetSnapshot(families, len(calls))


class PageReads:
    """The pacer for the reads a page makes: within the part of the shared budget not reserved for revocations
    (`reserved`, a share of each window and of the calls in flight), refused past it instead of waiting."""

    def __init__(self, pacer: RateLimitPacer | SharedRateBudget, reserved: float) -> None:
        self.pacer = pacer
        self.reserved = reserved

    def before_request(self, method: str, path: str) -> None:
        self.pacer.take_unreserved(method, path, self.reserved)

    def observe(self, method: str, path: str, response: requests.Response) -> None:
        self.pacer.observe(method, path, response)

    def release(self, method: str, path: str) -> None:
        self.pacer.release(method, path)


class Deferring:
    """The pacer for the sync's lookups: they spend the part of the shared budget not reserved for revocations
    (`reserved`, a share of each window and of the calls in flight) and wait past it, so a layoff's thousands
    of lookups never hold up the revocations of the people already decided (who share their endpoint families)."""

    def __init__(self, pacer: SharedRateBudget | HostRateBudget, reserved: float) -> None:
        self.pacer = pacer
        self.reserved = reserved

    @property
    def undeferred(self) -> SharedRateBudget | HostRateBudget:
        """The budget itself, for a call that may not wait behind revocations (what every lookup waits on)."""
        return self.pacer

    def before_request(self, method: str, path: str) -> None:
        self.pacer.take_deferring(method, path, self.reserved)

    def observe(self, method: str, path: str, response: requests.Response) -> None:
        self.pacer.observe(method, path, response)

    def release(self, method: str, path: str) -> None:
        self.pacer.release(method, path)
