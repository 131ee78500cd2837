"""Slowing down before Okta says 429, from the X-Rate-Limit-* headers of its own answers.

One pacer, `RateBudget` (to the client: `before_request`, `observe`, `release`), shared by every worker that
keeps it in the same store: the remaining count Okta reported, minus the calls in flight in every worker, is
what any worker may still spend in this window; past it, workers wait for the reset instead of being refused.
It also caps the calls in flight across all workers below Okta's org-wide concurrency limit. One rule, two
stores:
- `SharedRateBudget` keeps it in Redis, for every worker on every host: the Redis broker's.
- `HostRateBudget` keeps it in a file under a lock (OKTA_BUDGET_DIR), for every worker process of one host:
  the ORM broker's. Its workers are processes too, and each pacing itself could not see the others' calls
  in flight.

It keeps a share of each window for revocations: `take_unreserved` (what `PageReads` calls instead of
`before_request`) lets a read a page makes spend only the part of the remaining count, and of the calls in
flight, above that share, and refuses it (BudgetReserved) rather than waiting. Revocations' calls take
the whole budget as before. `snapshot` tells what is left, for the metrics.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import requests

from .errors import BudgetReserved
from .transport import server_clock_offset

log = logging.getLogger("offboarding.clients.okta")

T = TypeVar("T")


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


# The budget's state, the same in both stores: {"windows": {family: [limit, remaining, reset]}, "calls": {token:
# [family, since]}} (epoch seconds on Okta's clock). The rules below change it, each as one step no other worker
# can split: in Python under the file's lock (FileBudgetStore), and the same rules in Lua inside Redis
# (RedisBudgetStore), one round trip with no retries however many workers call at once.


@dataclass(frozen=True)
class Take:
    """The limits a call is taken within: at most `max_calls` in flight, never the window's last `margin` calls,
    and with `reserved` > 0 (a call that comes after revocations) not the share of the window kept for them
    either. Past them it waits, or is refused at once (`refuse`)."""

    stale_after: float
    margin: int
    max_calls: int
    reserved: float
    refuse: bool


def _live(calls: dict, now: float, stale_after: float) -> dict:
    """The calls in flight, less those no worker released within `stale_after` seconds (it died)."""
    return {t: c for t, c in calls.items() if c[1] > now - stale_after}


def _in_flight(calls: dict, family: str) -> int:
    """How many of `calls` ({token: [family, since]}) are in `family`."""
    return sum(1 for f, _ in calls.values() if f == family)


def _take(state: dict, family: str, token: str, now: float, take: Take) -> float | None:
    """None: the call is counted and may go; else the seconds to wait (0 for a refused call)."""
    calls = state["calls"] = _live(state["calls"], now, take.stale_after)
    if len(calls) >= take.max_calls:
        return 0.0 if take.refuse else 0.02
    window = state["windows"].get(family)
    if window and window[2] > now:
        limit, remaining, reset = window
        left = remaining - _in_flight(calls, family)
        if take.reserved > 0 and left <= take.margin + limit * take.reserved:
            return 0.0 if take.refuse else reset - now
        if left <= take.margin:
            return reset - now
    calls[token] = [family, now]
    return None


def _note(state: dict, family: str, limit: int, remaining: int, reset: float) -> None:
    """What Okta said is left in its current window; a newer window replaces an older one."""
    known = state["windows"].get(family)
    if known is None or reset > known[2] or (reset == known[2] and remaining < known[1]):
        state["windows"][family] = [limit, remaining, reset]


def _end(state: dict, token: str) -> None:
    state["calls"].pop(token, None)


def _drop_windows(state: dict) -> None:
    state["windows"] = {}


def _decoded(raw: bytes | str | None) -> dict:
    try:
        state = json.loads(raw) if raw and raw.strip() else {}
    except ValueError:
        state = {}  # a torn write cannot happen in either store; a foreign file is started afresh
    state.setdefault("windows", {})
    state.setdefault("calls", {})
    return state


class BudgetStore(Protocol):
    """Where a `RateBudget` keeps its state, for every worker that paces by it: each rule above, as one step."""

    def take(self, family: str, token: str, now: float, take: Take) -> float | None: ...

    def note(self, family: str, limit: int, remaining: int, reset: float) -> None: ...

    def end(self, token: str) -> None: ...

    def drop_windows(self) -> None: ...

    def read(self) -> dict: ...


class FileBudgetStore:
    """The state in a file, for every worker process of one host, changed only under an exclusive lock (flock)
    on it. A file, not the database: the workers' database is busy with the cases (SQLite takes one writer at
    a time), and three writes per Okta call would queue behind them; a lock on a small local file takes
    microseconds and is exactly as wide as the ORM broker's workers, one host."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def take(self, family: str, token: str, now: float, take: Take) -> float | None:
        return self._atomically(lambda state: _take(state, family, token, now, take))

    def note(self, family: str, limit: int, remaining: int, reset: float) -> None:
        self._atomically(lambda state: _note(state, family, limit, remaining, reset))

    def end(self, token: str) -> None:
        self._atomically(lambda state: _end(state, token))

    def drop_windows(self) -> None:
        self._atomically(_drop_windows)

    def read(self) -> dict:
        return self._atomically(lambda state: state)

    def _atomically(self, update: Callable[[dict], T]) -> T:
        """`update` run on the state under the lock; what it changed is written back before the lock goes."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 1 << 20, 0)
            state = _decoded(raw)
            before = json.dumps(state)
            answer = update(state)
            after = json.dumps(state).encode()
            if after != before.encode():
                # Written over in place, padded with blanks to the old length: the file never shrinks, so a
                # write changes no size (a truncation is a journalled change of the file, ten times dearer).
                os.pwrite(fd, after.ljust(len(raw)), 0)
            return answer
        finally:
            os.close(fd)  # and with it the lock


# The rules above, inside Redis: each script reads the state, changes it and writes it back as one step.
_LOAD = """
local raw = redis.call('GET', KEYS[1])
local ok, state = pcall(cjson.decode, raw or '{}')
if not ok or type(state) ~= 'table' then state = {} end
state.windows = state.windows or {}
state.calls = state.calls or {}
-- Written out by hand: cjson keeps 14 significant digits, a tenth of a millisecond of an epoch time.
local function number(x) return string.format('%.17g', x) end
local function keep()
  local windows, calls = {}, {}
  for family, w in pairs(state.windows) do
    windows[#windows + 1] = cjson.encode(family) .. ':[' .. number(w[1]) .. ',' .. number(w[2]) .. ','
      .. number(w[3]) .. ']'
  end
  for token, c in pairs(state.calls) do
    calls[#calls + 1] = cjson.encode(token) .. ':[' .. cjson.encode(c[1]) .. ',' .. number(c[2]) .. ']'
  end
  local raw = '{"windows":{' .. table.concat(windows, ',') .. '},"calls":{' .. table.concat(calls, ',') .. '}}'
  redis.call('SET', KEYS[1], raw, 'EX', tonumber(ARGV[1]))
end
"""

# _take: "-1", the call is counted and may go; else the seconds to wait ("0" for a refused call).
_TAKE = (
    _LOAD
    + """
local family, token, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local stale, margin, max_calls = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local reserved, refuse = tonumber(ARGV[8]), ARGV[9] == '1'
local calls, count, in_family, pruned = {}, 0, 0, false
for t, c in pairs(state.calls) do
  if c[2] > now - stale then
    calls[t], count = c, count + 1
    if c[1] == family then in_family = in_family + 1 end
  else
    pruned = true
  end
end
state.calls = calls
local function answer(wait)
  if pruned then keep() end
  return wait
end
if count >= max_calls then return answer(refuse and '0' or '0.02') end
local window = state.windows[family]
if window and window[3] > now then
  local left = window[2] - in_family
  if reserved > 0 and left <= margin + window[1] * reserved then
    return answer(refuse and '0' or tostring(window[3] - now))
  end
  if left <= margin then return answer(tostring(window[3] - now)) end
end
calls[token] = {family, now}
keep()
return '-1'
"""
)

_NOTE = (
    _LOAD
    + """
local family, limit, remaining, reset = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local known = state.windows[family]
if known == nil or reset > known[3] or (reset == known[3] and remaining < known[2]) then
  state.windows[family] = {limit, remaining, reset}
  keep()
end
"""
)

_END = (
    _LOAD
    + """
if state.calls[ARGV[2]] then
  state.calls[ARGV[2]] = nil
  keep()
end
"""
)

_DROP_WINDOWS = (
    _LOAD
    + """
if next(state.windows) then
  state.windows = {}
  keep()
end
"""
)


class RedisBudgetStore:
    """The state in one Redis key, for every worker on every host, changed only by the scripts above."""

    def __init__(self, redis_client, key: str, keep_for: int = 86400) -> None:
        self.redis = redis_client
        self.key = key
        self.keep_for = keep_for  # seconds after its last change: an org no longer paced is not kept for ever
        self._take = redis_client.register_script(_TAKE)
        self._note = redis_client.register_script(_NOTE)
        self._end = redis_client.register_script(_END)
        self._drop_windows = redis_client.register_script(_DROP_WINDOWS)

    def take(self, family: str, token: str, now: float, take: Take) -> float | None:
        rule = [take.stale_after, take.margin, take.max_calls, take.reserved, int(take.refuse)]
        wait = float(self._take([self.key], [self.keep_for, family, token, repr(now), *rule]))
        return None if wait < 0 else wait

    def note(self, family: str, limit: int, remaining: int, reset: float) -> None:
        self._note([self.key], [self.keep_for, family, limit, remaining, repr(reset)])

    def end(self, token: str) -> None:
        self._end([self.key], [self.keep_for, token])

    def drop_windows(self) -> None:
        self._drop_windows([self.key], [self.keep_for])

    def read(self) -> dict:
        return _decoded(self.redis.get(self.key))


class RateBudget:
    """One rate-limit budget per Okta endpoint family for every worker that shares its `store`.

    The remaining count Okta reported, minus the calls in flight in every worker, is what any worker may still
    spend in this window; past it, workers wait for the reset instead of being refused. Calls in flight across
    the workers stay under `max_concurrency`; a call not released after `stale_after` seconds (its worker died)
    stops counting. A call of lower priority (`reserved` > 0, the share kept for revocations) may use only the
    rest of the window and of the calls in flight: a page's read is refused past it, a sync's lookup waits.
    """

    def __init__(
        self,
        store: BudgetStore,
        *,
        max_concurrency: int = 20,
        margin: int = 0,
        max_wait: float = 60.0,
        stale_after: float = 120.0,
        family: Callable[[str, str], str] = okta_rate_limit_family,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`clock` is epoch seconds here, as every worker reads the same budget."""
        self.store = store
        self.max_concurrency = max_concurrency
        self.margin = margin
        self.max_wait = max_wait
        self.stale_after = stale_after
        self.family = family
        self.clock = clock
        self.sleep = sleep
        self.clock_offset = 0.0
        self._tokens = threading.local()

    def _now(self) -> float:
        return self.clock() + self.clock_offset

    def _try(self, family: str, token: str, reserved: float, max_calls: int, defer: bool = False) -> float | None:
        """None: the call is counted and may go; else the seconds to wait (0 for a page's read: refused)."""
        take = Take(self.stale_after, self.margin, max_calls, reserved, refuse=reserved > 0 and not defer)
        return self.store.take(family, token, self._now(), take)

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
        """Count this call if it fits in the unreserved part of its window (left after every worker's calls in
        flight) and of the calls in flight everywhere; BudgetReserved, at once, if not."""
        token = uuid.uuid4().hex
        # A share of 0 would be a revocation's call, which waits instead: the smallest share still refuses.
        slots = unreserved_slots(self.max_concurrency, reserved)
        if self._try(self.family(method, path), token, max(reserved, 1e-9), slots) is not None:
            raise _reserved(method, path)
        self._tokens.current = token

    def observe(self, method: str, path: str, response: requests.Response) -> None:
        """What Okta said is left in its current window; a newer window replaces an older one."""
        if not (window := rate_limit_window(response)):
            return
        self.clock_offset = server_clock_offset(response, self.clock())
        self.store.note(self.family(method, path), *window)

    def release(self, method: str, path: str) -> None:
        token = getattr(self._tokens, "current", None)
        if token:
            self.store.end(token)
            self._tokens.current = None

    def forget(self) -> None:
        """Drop every window seen, for every worker (the next call learns them again)."""
        self.store.drop_windows()

    def snapshot(self) -> BudgetSnapshot:
        """Every worker's budget: each family's window as last reported, and the calls in flight everywhere."""
        state, now = self.store.read(), self._now()
        calls = _live(state["calls"], now, self.stale_after)
        families = [
            FamilyBudget(family, int(limit), max(0, int(remaining) - _in_flight(calls, family)), reset - now)
            for family, (limit, remaining, reset) in sorted(state["windows"].items())
        ]
        return BudgetSnapshot(families, len(calls))


class SharedRateBudget(RateBudget):
    """The budget for every worker on every host, kept in Redis (the Redis broker)."""

    def __init__(self, redis_client, org_url: str, **options) -> None:
        super().__init__(RedisBudgetStore(redis_client, f"offboarding:okta-budget:{org_url}"), **options)


class HostRateBudget(RateBudget):
    """The budget for every worker process of one host, kept in a file under `directory` (the ORM broker, where
    there is no Redis: its workers are processes too, and each pacing itself could not see the others' calls)."""

    def __init__(self, directory: str | os.PathLike, org_url: str, **options) -> None:
        self.directory = Path(directory)
        name = f"okta-{hashlib.sha256(org_url.encode()).hexdigest()[:16]}.json"
        super().__init__(FileBudgetStore(self.directory / name), **options)


class _BelowRevocations:
    """A pacer for calls that come after revocations: each takes only the part of `pacer`'s budget not `reserved`
    for them (a share of each window and of the calls in flight); what Okta answers is `pacer`'s as ever."""

    def __init__(self, pacer: RateBudget, reserved: float) -> None:
        self.pacer = pacer
        self.reserved = reserved

    def observe(self, method: str, path: str, response: requests.Response) -> None:
        self.pacer.observe(method, path, response)

    def release(self, method: str, path: str) -> None:
        self.pacer.release(method, path)


class PageReads(_BelowRevocations):
    """The pacer for the reads a page makes: within the part of the shared budget not reserved for revocations,
    refused past it instead of waiting."""

    def before_request(self, method: str, path: str) -> None:
        self.pacer.take_unreserved(method, path, self.reserved)


class Deferring(_BelowRevocations):
    """The pacer for the sync's lookups: they spend the part of the shared budget not reserved for revocations
    and wait past it, so a layoff's thousands of lookups never hold up the revocations of the people already
    decided (who share their endpoint families)."""

    @property
    def undeferred(self) -> RateBudget:
        """The budget itself, for a call that may not wait behind revocations (what every lookup waits on)."""
        return self.pacer

    def before_request(self, method: str, path: str) -> None:
        self.pacer.take_deferring(method, path, self.reserved)
