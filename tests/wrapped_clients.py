"""A real vendor client whose chosen calls go through a function of the test's: to make a worker die around a call.

The calls still go to the sandbox over real HTTP; nothing of the project is patched. The code under
test takes the client as an argument (`revocation.run_case(case_id, okta=..., jira=...)`).

    okta = Wrapped(OktaClient.from_settings(), clear_sessions=die_before(1))
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

Around = Callable[[int, Callable[[], Any]], Any]


class Crash(Exception):
    """The worker died (not a vendor error: nothing in the project catches it)."""


class Wrapped:
    """`client`, with each call of a method named in `around` made through it; `on_call(name, n)` hears every call."""

    def __init__(self, client: Any, on_call: Callable[[str, int], None] | None = None, **around: Around) -> None:
        self._client, self._on_call, self._around, self.calls = client, on_call, around, Counter()

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name.startswith("_") or not callable(real) or not (self._on_call or name in self._around):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if self._on_call:
                self._on_call(name, self.calls[name])
            if name in self._around:
                return self._around[name](self.calls[name], lambda: real(*args, **kwargs))
            return real(*args, **kwargs)

        return call


def die_before(nth: int) -> Around:
    """The worker dies as it is about to make the nth such call: it is never sent."""

    def around(n: int, call: Callable[[], Any]) -> Any:
        if n == nth:
            raise Crash(f"worker died before call {n}")
        return call()

    return around


def die_after(nth: int) -> Around:
    """The nth such call goes through, and the worker dies before it hears the answer."""

    def around(n: int, call: Callable[[], Any]) -> Any:
        answer = call()
        if n == nth:
            raise Crash(f"worker died after call {n}")
        return answer

    return around


def before(nth: int, action: Callable[[], Any]) -> Around:
    """Do `action` just before the nth such call (e.g. drop the database connection), then make the call."""

    def around(n: int, call: Callable[[], Any]) -> Any:
        if n == nth:
            action()
        return call()

    return around


def after(nth: int, action: Callable[[], Any]) -> Around:
    """Make the nth such call, then do `action` (e.g. rescind the termination) before the worker goes on."""

    def around(n: int, call: Callable[[], Any]) -> Any:
        answer = call()
        if n == nth:
            action()
        return answer

    return around
