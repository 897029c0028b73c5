"""Keep a worker's partition claims alive while it works: a side connection renews their lease."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import structlog

from dailyfetch import ledger
from dailyfetch.database import connect
from dailyfetch.errors import DailyfetchError
from dailyfetch.redact import redact

log = structlog.get_logger("dailyfetch")


@contextmanager
def heartbeat(url: str, worker: str, lease_seconds: int) -> Iterator[None]:
    """Keep this worker's claims alive from a side connection while it works."""
    stop = threading.Event()

    def beat() -> None:
        conn: psycopg.Connection[Any] | None = None
        while not stop.wait(max(1.0, lease_seconds / 3)):
            try:
                if conn is None or conn.closed:
                    conn = connect(url, attempts=1)
                ledger.heartbeat(conn, worker, lease_seconds)
            except (DailyfetchError, psycopg.Error) as exc:
                log.warning("lease.heartbeat_failed", error=redact(str(exc)))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    thread = threading.Thread(target=beat, name="dailyfetch-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
