"""What every request of a run shares: the stop token, the rate limit, the in-flight cap, counters."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from dailyfetch.observe import NullObserver, RunObserver, RunStats
from dailyfetch.stopping import StopToken


class RateLimiter:
    """At most ``per_second`` request starts per second, evenly spaced, shared by all threads.

    Spacing requests (rather than bursting up to a bucket size) is what keeps an
    API that enforces "N per second" from ever answering 429.
    """

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, stop: StopToken) -> None:
        """Wait for the next free slot (interruptible by ``stop``)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            stop.sleep(start - now)


@dataclass
class FetchControl:
    """Shared by every request of a run."""

    stop: StopToken = field(default_factory=StopToken)
    limiter: RateLimiter | None = None
    slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(1))
    stats: RunStats = field(default_factory=RunStats)
    observer: RunObserver = field(default_factory=NullObserver)

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
