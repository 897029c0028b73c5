"""High-water marks of incremental jobs, kept in the ledger (``dailyfetch.cursors``).

One row per job and partition: the committed ``value`` and the ``pending`` mark
of the partition being fetched. Every change of ``value`` is also written to
``dailyfetch.cursor_changes`` with who or what made it (``run 42``,
``root@laptop via dailyfetch state set``), for recovery and audit.
"""

from __future__ import annotations

import getpass
import socket
from typing import Any

import psycopg
from psycopg.rows import dict_row

from dailyfetch.config import IncrementalConfig
from dailyfetch.incremental import Mark, later, stored_mark

Connection = psycopg.Connection[Any]


def read_mark(conn: Connection, job: str, partition: str) -> str | None:
    """The committed high-water mark of ``job``'s ``partition`` (the API's text), or ``None``."""
    row = conn.execute(
        "SELECT value FROM dailyfetch.cursors WHERE job = %s AND partition = %s", (job, partition)
    ).fetchone()
    return row[0] if row else None


def record_pending(
    conn: Connection, job: str, partition: str, value: Mark | None, config: IncrementalConfig
) -> None:
    """Raise the partition's pending mark to ``value`` (inside the batch's transaction).

    The mark is stored as the API's text, so it is sent back byte for byte; marks stored by
    earlier versions (dailyfetch's own ISO 8601 spelling) read back the same way.
    """
    if value is None:
        return
    conn.execute(
        "INSERT INTO dailyfetch.cursors (job, partition) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (job, partition),
    )
    row = conn.execute(
        "SELECT pending FROM dailyfetch.cursors WHERE job = %s AND partition = %s FOR UPDATE",
        (job, partition),
    ).fetchone()
    current = _stored(row[0] if row else None, config, partition, "pending")
    best = later(current, value)
    if best is not None and best is not current:
        conn.execute(
            "UPDATE dailyfetch.cursors SET pending = %s WHERE job = %s AND partition = %s",
            (best.text, job, partition),
        )


def _stored(text: str | None, config: IncrementalConfig, partition: str, what: str) -> Mark | None:
    return None if text is None else stored_mark(text, config, partition=partition, what=what)


def promote(conn: Connection, job: str, partition: str, set_by: str, config: IncrementalConfig) -> None:
    """Make the pending mark the high-water mark (inside the partition's completing transaction)."""
    row = conn.execute(
        "SELECT value, pending FROM dailyfetch.cursors WHERE job = %s AND partition = %s FOR UPDATE",
        (job, partition),
    ).fetchone()
    if row is None or row[1] is None:
        return
    old = row[0]
    best = later(_stored(old, config, partition, "stored"), _stored(row[1], config, partition, "pending"))
    new = best.text if best is not None else None
    conn.execute(
        "UPDATE dailyfetch.cursors SET value = %s, pending = NULL, updated_at = now(), set_by = %s "
        "WHERE job = %s AND partition = %s",
        (new, set_by, job, partition),
    )
    if new != old:
        _log_change(conn, job, partition, old, new, set_by)


def _log_change(
    conn: Connection, job: str, partition: str, old: str | None, new: str | None, set_by: str
) -> None:
    conn.execute(
        "INSERT INTO dailyfetch.cursor_changes (job, partition, old_value, new_value, set_by) "
        "VALUES (%s, %s, %s, %s, %s)",
        (job, partition, old, new, set_by),
    )


def operator() -> str:
    """Who is changing a mark by hand: ``user@host via dailyfetch state``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} via dailyfetch state"


def set_mark(conn: Connection, job: str, partitions: list[str], value: str | None, set_by: str) -> None:
    """Set (or, with ``None``, reset to ``initial``) the mark of each partition, recording the change."""
    with conn.transaction():
        for partition in partitions:
            old = read_mark(conn, job, partition)
            conn.execute(
                "INSERT INTO dailyfetch.cursors (job, partition, value, set_by) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (job, partition) DO UPDATE SET value = EXCLUDED.value, pending = NULL, "
                "updated_at = now(), set_by = EXCLUDED.set_by",
                (job, partition, value, set_by),
            )
            _log_change(conn, job, partition, old, value, set_by)


def list_marks(conn: Connection, job: str) -> list[dict[str, Any]]:
    """Every partition's mark and its last change."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT partition, value, pending, updated_at, set_by FROM dailyfetch.cursors WHERE job = %s "
            "ORDER BY partition",
            (job,),
        )
        rows = cur.fetchall()
    conn.commit()
    return rows
