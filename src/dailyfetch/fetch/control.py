"""What every request of a run shares: the stop token, the rate limit, the in-flight cap, counters."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from dailyfetch.fetch.budget import PageBudget
from dailyfetch.observe import NullObserver, RunObserver, RunStats
from dailyfetch.stopping import StopToken


class RateLimiter:
    """At most ``per_second`` request starts per second, evenly spaced, shared by all threads.

    Each start is spaced from the previous *actual* start (the lock is held while
    waiting, so waiters go one by one), and the spacing keeps 5% headroom: an API
    that counts "N per second" in a sliding window never sees N+1, whatever the
    scheduling jitter between threads. Spacing (rather than bursting up to a
    bucket size) is what keeps such an API from ever answering 429.
    """

    HEADROOM = 0.95

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / (per_second * self.HEADROOM)
        self._last = -float("inf")
        self._lock = threading.Lock()

    def acquire(self, stop: StopToken) -> None:
        """Wait until a request may start (interruptible by ``stop``)."""
        with self._lock:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                stop.sleep(wait)
            self._last = time.monotonic()


@dataclass
class FetchControl:
    """Shared by every request of a run."""

    stop: StopToken = field(default_factory=StopToken)
    limiter: RateLimiter | None = None
    slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(1))
    stats: RunStats = field(default_factory=RunStats)
    observer: RunObserver = field(default_factory=NullObserver)
    budget: PageBudget = field(default_factory=PageBudget.for_this_process)  # bytes of pages ahead

    @classmethod
    def create(
        cls,
        *,
        concurrency: int = 1,
        requests_per_second: float | None = None,
        stop: StopToken | None = None,
        observer: RunObserver | None = None,
    ) -> FetchControl:
        """A control with ``concurrency`` requests in flight and an optional rate limit."""
        return cls(
            stop=stop or StopToken(),
            limiter=RateLimiter(requests_per_second) if requests_per_second else None,
            slots=threading.BoundedSemaphore(concurrency),
            observer=observer or NullObserver(),
        )
