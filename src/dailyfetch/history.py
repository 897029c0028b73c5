"""Read-only questions about a job's past runs, asked of the ledger.

Notifications ask whether this success ends a run of failures and whether its row
count is unusually low; the report asks for every run in a window of days. Nothing
here writes: the ledger's owner is :mod:`dailyfetch.ledger`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg

from dailyfetch.redact import redact

Connection = psycopg.Connection[Any]
FINISHED = ("succeeded", "failed", "interrupted")
UNSUCCESSFUL = ("failed", "interrupted")


@dataclass(frozen=True)
class RunRecord:
    """One row of ``dailyfetch.runs``, with its error already redacted."""

    id: int
    logical_date: date
    generation: int
    status: str
    rows: int
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    error_class: str | None
    error: str | None

    @property
    def duration(self) -> float | None:
        """Seconds from the first attempt's start to the finish, when the run finished."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def ledger_exists(conn: Connection) -> bool:
    """Whether the ``dailyfetch.runs`` table exists (no run has ever happened otherwise)."""
    row = conn.execute("SELECT to_regclass('dailyfetch.runs') IS NOT NULL").fetchone()
    conn.commit()
    return bool(row and row[0])


def runs_since(conn: Connection, job: str, since: date) -> list[RunRecord]:
    """Every run of ``job`` whose logical date is ``since`` or later, oldest first.

    A run still working reports the rows its partitions have committed so far.
    """
    rows = conn.execute(
        """
        SELECT r.id, r.logical_date, r.generation, r.status,
               CASE WHEN r.status = 'succeeded' THEN r.rows
                    ELSE (SELECT coalesce(sum(p.rows), 0) FROM dailyfetch.partitions p WHERE p.run_id = r.id)
               END::bigint,
               r.attempts, r.started_at, r.finished_at, r.error_class, r.error
        FROM dailyfetch.runs r
        WHERE r.job = %s AND r.logical_date >= %s
        ORDER BY r.logical_date, r.generation, r.id
        """,
        (job, since),
    ).fetchall()
    conn.commit()
    return [_record(r) for r in rows]


def _record(r: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        id=r[0],
        logical_date=r[1],
        generation=r[2],
        status=r[3],
        rows=int(r[4]),
        attempts=r[5],
        started_at=r[6],
        finished_at=r[7],
        error_class=r[8],
        error=redact(r[9]) if r[9] else None,
    )


def previous_finished_status(conn: Connection, job: str, run_id: int) -> str | None:
    """The status of the run of ``job`` that finished last, other than ``run_id``; None if none."""
    row = conn.execute(
        "SELECT status FROM dailyfetch.runs WHERE job = %s AND id <> %s AND finished_at IS NOT NULL "
        "AND status = ANY(%s) ORDER BY finished_at DESC, id DESC LIMIT 1",
        (job, run_id, list(FINISHED)),
    ).fetchone()
    conn.commit()
    return str(row[0]) if row else None


def is_recovery(conn: Connection, job: str, run_id: int) -> bool:
    """Whether the succeeded run ``run_id`` is the first success after one or more failures.

    Two ways a failure can precede it:

    * the run of this job that finished last (by ``finished_at``) before this one
      failed or was interrupted, say yesterday's date;
    * an earlier attempt at this very run failed and it was retried. The ledger keeps
      one row per run and overwrites its status, so that attempt is seen in the
      partitions: a partition claimed more than once had an attempt that did not
      succeed. It counts only if no other run of the job succeeded after this run
      first started (else the job had already recovered).
    """
    if previous_finished_status(conn, job, run_id) in UNSUCCESSFUL:
        return True
    row = conn.execute(
        """
        SELECT (SELECT coalesce(max(p.attempts), 0) FROM dailyfetch.partitions p WHERE p.run_id = r.id) > 1,
               EXISTS (SELECT 1 FROM dailyfetch.runs o WHERE o.job = r.job AND o.id <> r.id
                       AND o.status = 'succeeded' AND o.finished_at > r.started_at)
        FROM dailyfetch.runs r WHERE r.id = %s AND r.job = %s
        """,
        (run_id, job),
    ).fetchone()
    conn.commit()
    return bool(row and row[0] and not row[1])


def trailing_rows(conn: Connection, job: str, run_id: int, window: int) -> list[int]:
    """The row counts of the last ``window`` succeeded runs of ``job`` other than ``run_id``, newest first."""
    rows = conn.execute(
        "SELECT rows FROM dailyfetch.runs WHERE job = %s AND id <> %s AND status = 'succeeded' "
        "AND finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT %s",
        (job, run_id, window),
    ).fetchall()
    conn.commit()
    return [int(r[0]) for r in rows]


def median(values: list[int] | list[float]) -> float | None:
    """The median of ``values``, or None when there are none."""
    return float(statistics.median(values)) if values else None
