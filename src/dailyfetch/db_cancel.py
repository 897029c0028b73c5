"""The run's deadline (and SIGTERM/SIGINT) reach the database: cancel statements still running.

A statement waiting for a lock, or running long, would otherwise keep a run going past
``[job] timeout`` for as long as it takes. Once the run's :class:`~dailyfetch.stopping.StopToken`
is set, every watched connection that is still inside a statement :data:`SETTLE` seconds
later is cancelled (PostgreSQL's cancel request, which a transaction-pooling PgBouncer
forwards to the server connection serving it; no session state is involved), and again
every :data:`SETTLE` seconds while the run winds down. The second gives a batch being
committed as the deadline passes the time to finish, so what arrived is kept. A cancelled
statement raises 57014 ``query_canceled``, which :func:`dailyfetch.dberrors.translate`
turns into :class:`~dailyfetch.errors.RunInterrupted` while the token is set.

A cancel that reaches a connection between statements is ignored by the server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import structlog

from dailyfetch.redact import redact
from dailyfetch.stopping import StopToken

__all__ = ["SETTLE", "StatementCanceller"]

log = structlog.get_logger("dailyfetch")
SETTLE = 1.0  # seconds a statement may go on after the stop, before it is cancelled
_POLL = 1.0  # how often the deadline is looked at while nothing has stopped the run

Getter = Callable[[], "psycopg.Connection[Any] | None"]


class StatementCanceller:
    """Connections to cancel when the run must stop; :meth:`running` watches them in a thread."""

    def __init__(self, stop: StopToken) -> None:
        self.stop = stop
        self._getters: dict[int, Getter] = {}
        self._lock = threading.Lock()
        self.cancelled = 0  # cancel requests sent (for tests and the debug log)

    def watch(self, getter: Getter) -> int:
        """Watch the connection ``getter`` returns (looked up each time: workers reconnect); return a handle."""
        with self._lock:
            handle = len(self._getters) + 1 + max(self._getters, default=0)
            self._getters[handle] = getter
        return handle

    def unwatch(self, handle: int) -> None:
        """Stop watching the connection behind ``handle``."""
        with self._lock:
            self._getters.pop(handle, None)

    def cancel_running(self) -> None:
        """Cancel the statement each watched connection is running, if any."""
        with self._lock:
            getters = list(self._getters.values())
        for getter in getters:
            conn = getter()
            if conn is None or conn.closed:
                continue
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.ACTIVE:
                continue
            try:
                conn.cancel_safe(timeout=5.0)
                self.cancelled += 1
                log.debug("database.statement_cancelled", reason=self.stop.reason)
            except (psycopg.Error, OSError) as exc:
                log.warning("database.cancel_failed", error=redact(str(exc)))

    @contextmanager
    def running(self) -> Iterator[StatementCanceller]:
        """Watch in a daemon thread until the block ends."""
        finished = threading.Event()

        def watch() -> None:
            while not self.stop.requested:
                remaining = self.stop.remaining()
                wait = _POLL if remaining is None else min(_POLL, remaining)
                if finished.wait(wait):
                    return
            while not finished.wait(SETTLE):
                self.cancel_running()

        thread = threading.Thread(target=watch, name="dailyfetch-statement-deadline", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            finished.set()
            thread.join(timeout=10)
