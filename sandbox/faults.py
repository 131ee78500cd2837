"""Faults a test switches on through the control API: latency, 5xx, timeouts, 429 storms, outages, bad bodies."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from sandbox.state import OptionError

SERVICES = ("okta", "jira", "workday")
# In the order they act on a request: an outage wins over everything, latency delays whatever follows.
KINDS = ("outage", "timeout", "latency", "rate_limit", "error", "malformed", "truncated", "cut_off")
ERROR_STATUSES = (500, 502, 503, 504)
_ids = itertools.count(1)


@dataclass
class Fault:
    service: str
    kind: str
    endpoint: str | None = None  # "DELETE /api/v1/groups/*/users/*", "/api/v1/users*" or None for all
    seconds: float = 0.0  # latency: added delay; timeout: how long to hold the connection
    status: int = 503  # error
    rate: float = 1.0  # share of the matching requests it hits
    count: int | None = None  # switches itself off after hitting this many requests
    after: int = 0  # matching requests let through untouched before it starts (counts down, as count does)
    retry_after: int = 1  # rate_limit: seconds announced to the client (Jira: Retry-After; Okta: its reset)
    body: str | None = None  # malformed: what to send instead (default: an HTML error page, not JSON)
    id: int = field(default_factory=lambda: next(_ids))
    hits: int = 0  # requests it has hit so far (read back, never set)

    def __post_init__(self) -> None:
        if self.service not in SERVICES:
            raise OptionError(f"unknown service {self.service!r}; one of {SERVICES}")
        if self.kind not in KINDS:
            raise OptionError(f"unknown fault kind {self.kind!r}; one of {KINDS}")
        if self.kind == "error" and self.status not in ERROR_STATUSES:
            raise OptionError(f"an error fault answers one of {ERROR_STATUSES}")
        if not 0 <= self.rate <= 1:
            raise OptionError("rate is a share between 0 and 1")
        if isinstance(self.after, bool) or not isinstance(self.after, int) or self.after < 0:
            raise OptionError("after is a number of matching requests to let through: 0 or more")
        if self.kind == "timeout" and not self.seconds:
            self.seconds = 120.0
        method, _, pattern = (self.endpoint or "").strip().rpartition(" ")
        self._method = method.upper() or None
        self._path = re.compile(
            "".join("[^/]+" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern or "*"))
            if pattern and pattern != "*"
            else ".*"
        )

    @classmethod
    def from_dict(cls, data: dict) -> Fault:
        allowed = set(cls.__dataclass_fields__) - {"id", "hits"}
        unknown = set(data) - allowed
        if unknown:
            raise OptionError(f"unknown fault parameters {sorted(unknown)}")
        return cls(**data)

    def matches(self, service: str, method: str, path: str) -> bool:
        if service != self.service or (self._method and self._method != method):
            return False
        return self._path.fullmatch(path) is not None

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
