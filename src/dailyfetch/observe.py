"""What a run reports while it works: the observer interface and its counters.

The runner calls a :class:`RunObserver` at each step; the live progress display
(``dailyfetch.progress``) and the end-of-run metrics are observers. Observers
must be cheap and must never raise.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol


class RunObserver(Protocol):
    """Callbacks the runner makes while a run progresses."""

    def run_started(self, job: str, logical_date: date, partitions: int) -> None:
        """The run begins with ``partitions`` partitions in total."""

    def partition_started(self, key: str, resumed_rows: int) -> None:
        """This worker claimed partition ``key`` (which already holds ``resumed_rows``)."""

    def page_fetched(self, key: str, records: int) -> None:
        """One page with ``records`` records arrived."""

    def batch_committed(self, key: str, rows: int) -> None:
        """A batch of ``rows`` rows committed."""

    def partition_finished(self, key: str, status: str) -> None:
        """The partition ended: ``succeeded``, ``failed`` or ``interrupted``."""

    def http_retry(self, status: int | None) -> None:
        """A request is being retried (``status`` is None for connection errors)."""

    def run_finished(self, outcome: str, rows: int) -> None:
        """The run ended with ``outcome``."""


@dataclass
class RunStats:
    """Counters for one run, fed by the runner and the HTTP layer (thread-safe)."""

    pages: int = 0
    http_requests: int = 0
    http_retries: int = 0
    http_429: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_page(self) -> None:
        """One page was fetched."""
        with self._lock:
            self.pages += 1

    def count_request(self) -> None:
        """One HTTP request was sent."""
        with self._lock:
            self.http_requests += 1

    def count_retry(self, status: int | None) -> None:
        """One HTTP request will be retried."""
        with self._lock:
            self.http_retries += 1
            if status == 429:
                self.http_429 += 1


class NullObserver:
    """An observer that ignores everything."""

    def run_started(self, job: str, logical_date: date, partitions: int) -> None:
        """Ignore."""

    def partition_started(self, key: str, resumed_rows: int) -> None:
        """Ignore."""

    def page_fetched(self, key: str, records: int) -> None:
        """Ignore."""

    def batch_committed(self, key: str, rows: int) -> None:
        """Ignore."""

    def partition_finished(self, key: str, status: str) -> None:
        """Ignore."""

    def http_retry(self, status: int | None) -> None:
        """Ignore."""

    def run_finished(self, outcome: str, rows: int) -> None:
        """Ignore."""
