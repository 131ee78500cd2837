"""A fake clock for code that takes `clock` and `sleep` callables: time moves only when the code sleeps
or the test moves it, so no test waits for real.
"""

import threading
from collections.abc import Callable


class FakeClock:
    """`sleeps` records every sleep; `on_sleep[n]` runs as the nth sleep (from 1) starts. `then(seconds)`,
    when given, is told whenever time moves: the sandbox's `advance_clock`, so the vendors' clock (their
    rate-limit windows, token expiry, Date header) moves with ours. Threads may share it: each sleep
    moves time on for all of them."""

    def __init__(self, now: float = 1000.0, then: Callable[[float], object] | None = None) -> None:
        self.now = now
        self.then = then
        self.sleeps: list[float] = []
        self.on_sleep: dict[int, Callable[[], object]] = {}
        self._lock = threading.RLock()

    def monotonic(self) -> float:
        return self.now

    time = monotonic  # for code that wants epoch seconds: start the clock at time.time()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.on_sleep.get(len(self.sleeps), lambda: None)()
            self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            # The vendors' clock first: a thread reading ours meanwhile must not be ahead of theirs.
            if self.then is not None and seconds > 0:
                self.then(seconds)
            self.now += seconds
