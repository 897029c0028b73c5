"""The run ledger: runs, partitions, claims and progress, in the ``dailyfetch`` schema.

One row in ``dailyfetch.runs`` per (job, logical time, generation); ``--force``
starts a new generation. One row in ``dailyfetch.partitions`` per partition of a
run, holding its status, rows, attempt count, error, its committed *progress*
(the source state to resume from) and its *claim*: the worker holding it and a
lease. Claims are plain rows (``FOR UPDATE SKIP LOCKED``), never session
advisory locks, so the ledger works behind a transaction-pooling PgBouncer. A
claim whose lease has expired, or whose worker is a dead process on this host,
can be taken over; every progress update re-checks the claim (a fencing token),
so a worker that lost its claim can never commit a batch.

Error messages are redacted before they are stored; the ledger never holds secrets.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from dailyfetch import jsontext
from dailyfetch.errors import ClaimLostError, DatabaseUnavailableError
from dailyfetch.ledger_schema import SCHEMA_VERSION as SCHEMA_VERSION
from dailyfetch.ledger_schema import ensure_ledger as ensure_ledger
from dailyfetch.plan import RunPlan
from dailyfetch.redact import redact, seal, unseal

Connection = psycopg.Connection[Any]


def worker_id() -> str:
    """This process's identity in claims: ``host:pid:nonce``."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass(frozen=True)
class RunRow:
    """A run as the ledger holds it."""

    id: int
    generation: int
    status: str


def open_run(conn: Connection, plan: RunPlan, *, force: bool) -> tuple[RunRow, bool]:
    """Find or create the run for ``plan``'s window; return it and whether it already succeeded.

    The run is identified by ``(job, logical_time)``, the window's start. ``force``
    starts a new generation of a run that already succeeded (or of any run), so the
    window is fetched again from the start.
    """
    start = plan.start_wall
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"dailyfetch:run:{plan.job}:{plan.label}",)
        )
        row = conn.execute(
            "SELECT id, generation, status FROM dailyfetch.runs WHERE job = %s AND logical_time = %s "
            "ORDER BY generation DESC LIMIT 1",
            (plan.job, start),
        ).fetchone()
        if row is not None and row[2] == "succeeded" and not force:
            return RunRow(*row), True
        if row is not None and force:
            # Fence the superseded generation: its workers' next commit fails (claim lost),
            # so they can never write into the new generation's window.
            conn.execute(
                "UPDATE dailyfetch.partitions SET claimed_by = NULL, lease_until = NULL, "
                "status = CASE WHEN status = 'succeeded' THEN status ELSE 'interrupted' END "
                "WHERE run_id IN (SELECT id FROM dailyfetch.runs WHERE job = %s AND logical_time = %s)",
                (plan.job, start),
            )
            conn.execute(
                "UPDATE dailyfetch.runs SET status = 'interrupted', finished_at = now(), "
                "error = 'superseded by a --force run' "
                "WHERE job = %s AND logical_time = %s AND status = 'running'",
                (plan.job, start),
            )
        if row is None or force:
            generation = 1 if row is None else row[1] + 1
            created = conn.execute(
                "INSERT INTO dailyfetch.runs (job, logical_date, logical_time, generation, partitions) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id, generation, status",
                (plan.job, start.date(), start, generation, len(plan.partitions)),
            ).fetchone()
            assert created is not None
            row = created
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dailyfetch.partitions (run_id, key, vars) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                [(row[0], p.key, orjson.dumps(p.values).decode()) for p in plan.partitions],
            )
        conn.execute(
            "UPDATE dailyfetch.runs SET attempts = attempts + 1, status = 'running', finished_at = NULL "
            "WHERE id = %s",
            (row[0],),
        )
        return RunRow(row[0], row[1], "running"), False


@dataclass(frozen=True)
class Claim:
    """A partition this worker holds."""

    key: str
    values: dict[str, str]
    progress: dict[str, Any] | None
    rows: int
    attempts: int
    pages: int = 0


def _dead_local_workers(conn: Connection, run_id: int) -> list[str]:
    host = socket.gethostname()
    rows = conn.execute(
        "SELECT DISTINCT claimed_by FROM dailyfetch.partitions "
        "WHERE run_id = %s AND claimed_by LIKE %s AND status = 'running'",
        (run_id, f"{host}:%"),
    ).fetchall()
    dead = []
    for (worker,) in rows:
        _, pid, _ = worker.rsplit(":", 2)
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.append(worker)
        except (PermissionError, ValueError):
            continue
    return dead


def claim_partition(
    conn: Connection, run_id: int, worker: str, lease_seconds: int, exclude: list[str]
) -> Claim | None:
    """Claim one partition that is not done and not held by a live worker, or ``None``."""
    with conn.transaction():
        dead = _dead_local_workers(conn, run_id)
        row = conn.execute(
            """
            UPDATE dailyfetch.partitions p
            SET status = 'running', claimed_by = %(worker)s,
                lease_until = now() + make_interval(secs => %(lease)s),
                attempts = p.attempts + 1, started_at = coalesce(p.started_at, now()),
                updated_at = now(), error = NULL, error_class = NULL, finished_at = NULL
            WHERE p.run_id = %(run)s AND p.key = (
                SELECT key FROM dailyfetch.partitions
                WHERE run_id = %(run)s AND status <> 'succeeded' AND NOT (key = ANY(%(exclude)s))
                  AND (claimed_by IS NULL OR lease_until < now() OR claimed_by = ANY(%(dead)s))
                ORDER BY key LIMIT 1 FOR UPDATE SKIP LOCKED
            )
            RETURNING p.key, p.vars, p.progress, p.rows, p.attempts, p.pages
            """,
            {"worker": worker, "lease": lease_seconds, "run": run_id, "exclude": exclude, "dead": dead},
        ).fetchone()
    if row is None:
        return None
    progress = _unseal_progress(row[2])
    return Claim(key=row[0], values=row[1], progress=progress, rows=row[3], attempts=row[4], pages=row[5])


def save_progress(
    conn: Connection,
    run_id: int,
    key: str,
    worker: str,
    progress: dict[str, Any],
    *,
    rows: int,
    pages: int,
    lease_seconds: int,
    bad: int = 0,
    bad_sample: list[dict[str, Any]] | None = None,
    expect: tuple[int, int] | None = None,
    asynchronous_commit: bool = False,
) -> None:
    """Record a batch's progress inside the batch's transaction; raise if the claim was lost.

    ``asynchronous_commit`` makes the transaction's commit asynchronous (``SET LOCAL
    synchronous_commit = off``), sent in the same round trip as the update.

    ``bad`` skipped records are added to the partition's count; ``bad_sample``
    extends its capped sample (already redacted). ``expect`` is the ``(rows, pages)``
    this worker committed before the batch: if the ledger holds less, commits it saw
    acknowledged were lost (a database crash behind a pooler that kept the client's
    connection, with asynchronous commit), and :class:`DatabaseUnavailableError`
    sends the worker back to the durable progress instead of skipping that range.
    """
    sealed = seal(jsontext.dumps(progress).decode())  # exact: a cursor may be an integer past 64 bits
    sample = jsontext.dumps(bad_sample).decode() if bad_sample else None
    with conn.pipeline():
        if asynchronous_commit:
            conn.execute("SET LOCAL synchronous_commit = off")
        result = conn.execute(
            "UPDATE dailyfetch.partitions SET progress = %s::jsonb, rows = rows + %s, pages = pages + %s, "
            "lease_until = now() + make_interval(secs => %s), updated_at = now(), bad_records = bad_records + %s, "
            "bad_sample = CASE WHEN %s::jsonb IS NULL THEN bad_sample "
            "  ELSE (SELECT jsonb_agg(e) FROM (SELECT e FROM jsonb_array_elements(coalesce(bad_sample, '[]'::jsonb) "
            "  || %s::jsonb) e LIMIT 5) s) END "
            "WHERE run_id = %s AND key = %s AND claimed_by = %s AND status = 'running' "
            "AND (%s::bigint IS NULL OR (rows, pages) = (%s, %s))",
            (sealed, rows, pages, lease_seconds, bad, sample, sample, run_id, key, worker,
             None if expect is None else 0, *(expect or (0, 0))),
        )  # fmt: skip
    if result.rowcount == 1:
        return
    held = conn.execute(
        "SELECT rows, pages FROM dailyfetch.partitions "
        "WHERE run_id = %s AND key = %s AND claimed_by = %s AND status = 'running'",
        (run_id, key, worker),
    ).fetchone()
    if held is None:
        raise ClaimLostError(f"partition {key!r} was taken over by another worker; batch rolled back")
    raise DatabaseUnavailableError(
        f"partition {key!r}: the ledger holds {held[0]} rows in {held[1]} pages, this worker committed "
        f"{expect[0] if expect else '?'} in {expect[1] if expect else '?'}: acknowledged commits were lost; "
        "resuming from the durable progress"
    )


def reclaim(conn: Connection, run_id: int, key: str, worker: str) -> Claim | None:
    """This worker's claim on ``key`` as the ledger now holds it (after a reconnect), or ``None``."""
    with conn.transaction():
        row = conn.execute(
            "SELECT key, vars, progress, rows, attempts, pages FROM dailyfetch.partitions "
            "WHERE run_id = %s AND key = %s AND claimed_by = %s AND status = 'running'",
            (run_id, key, worker),
        ).fetchone()
    if row is None:
        return None
    progress = _unseal_progress(row[2])
    return Claim(key=row[0], values=row[1], progress=progress, rows=row[3], attempts=row[4], pages=row[5])


def reset_partition_rows(conn: Connection, run_id: int, key: str) -> None:
    """Zero a partition's row count when it starts over (inside the first batch's transaction)."""
    conn.execute(
        "UPDATE dailyfetch.partitions SET rows = 0, pages = 0 WHERE run_id = %s AND key = %s", (run_id, key)
    )


def lock_run(conn: Connection, run_id: int) -> None:
    """Serialise run-level decisions (who finishes the run) inside the caller's transaction.

    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: a transaction that updates its partition
    row twice (a single-batch partition resets, then saves, its progress) has the
    foreign key take ``FOR KEY SHARE`` on the run's row, and two such workers each
    waiting for ``FOR UPDATE`` past the other's share lock deadlocked, costing a second
    and a reconnect. ``NO KEY UPDATE`` still excludes every other worker's.
    """
    conn.execute("SELECT id FROM dailyfetch.runs WHERE id = %s FOR NO KEY UPDATE", (run_id,))


def complete_partition(conn: Connection, run_id: int, key: str, worker: str) -> bool:
    """Mark the partition done (inside the caller's transaction); return whether the run is complete."""
    result = conn.execute(
        "UPDATE dailyfetch.partitions SET status = 'succeeded', finished_at = now(), updated_at = now(), "
        "claimed_by = NULL, lease_until = NULL WHERE run_id = %s AND key = %s AND claimed_by = %s",
        (run_id, key, worker),
    )
    if result.rowcount != 1:
        raise ClaimLostError(f"partition {key!r} was taken over by another worker; batch rolled back")
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status <> 'succeeded') FROM dailyfetch.partitions WHERE run_id = %s",
        (run_id,),
    ).fetchone()
    return bool(row is not None and row[0] == 0)


def other_generations(conn: Connection, run_id: int) -> list[int]:
    """The ids of the other generations of this run's job and window (superseded by ``--force``)."""
    rows = conn.execute(
        "SELECT o.id FROM dailyfetch.runs o JOIN dailyfetch.runs r ON r.job = o.job "
        "AND r.logical_time = o.logical_time WHERE r.id = %s AND o.id <> r.id",
        (run_id,),
    ).fetchall()
    return [row[0] for row in rows]


def finish_run(conn: Connection, run_id: int) -> None:
    """Mark the run succeeded (inside the transaction that completed its last partition)."""
    conn.execute(
        "UPDATE dailyfetch.runs SET status = 'succeeded', finished_at = now(), error = NULL, error_class = NULL, "
        "rows = (SELECT coalesce(sum(rows), 0) FROM dailyfetch.partitions WHERE run_id = %s) WHERE id = %s",
        (run_id, run_id),
    )


def stop_partition(
    conn: Connection, run_id: int, key: str, worker: str, status: str, error: BaseException
) -> None:
    """Release a partition as ``failed`` or ``interrupted`` with its error (its own transaction)."""
    with conn.transaction():
        conn.execute(
            "UPDATE dailyfetch.partitions SET status = %s, claimed_by = NULL, lease_until = NULL, "
            "finished_at = now(), updated_at = now(), error_class = %s, error = %s "
            "WHERE run_id = %s AND key = %s AND claimed_by = %s",
            (status, type(error).__name__, redact(str(error)), run_id, key, worker),
        )


def stop_run(conn: Connection, run_id: int, status: str, error: BaseException) -> None:
    """Record that this worker's part of the run failed or was interrupted."""
    with conn.transaction():
        conn.execute(
            "UPDATE dailyfetch.runs SET status = %s, finished_at = now(), error_class = %s, error = %s, "
            "rows = (SELECT coalesce(sum(rows), 0) FROM dailyfetch.partitions WHERE run_id = %s) "
            "WHERE id = %s AND status <> 'succeeded'",
            (status, type(error).__name__, redact(str(error)), run_id, run_id),
        )


def heartbeat(conn: Connection, worker: str, lease_seconds: int) -> int:
    """Extend every lease this worker holds; return how many."""
    with conn.transaction():
        result = conn.execute(
            "UPDATE dailyfetch.partitions SET lease_until = now() + make_interval(secs => %s) "
            "WHERE claimed_by = %s AND status = 'running'",
            (lease_seconds, worker),
        )
    return result.rowcount


def run_rows(conn: Connection, run_id: int) -> int:
    """The rows written so far by every partition of the run."""
    row = conn.execute(
        "SELECT coalesce(sum(rows), 0) FROM dailyfetch.partitions WHERE run_id = %s", (run_id,)
    ).fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def list_runs(conn: Connection, job: str, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` runs of ``job``, as plain dicts."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            SELECT r.id, r.job, r.logical_date, r.logical_time, r.generation, r.status, r.attempts, r.partitions,
                   CASE WHEN r.status = 'succeeded' THEN r.rows
                        ELSE (SELECT coalesce(sum(p.rows), 0)::bigint FROM dailyfetch.partitions p WHERE p.run_id = r.id)
                   END AS rows,
                   (SELECT count(*) FROM dailyfetch.partitions p WHERE p.run_id = r.id AND p.status = 'succeeded')
                       AS partitions_done,
                   r.started_at, r.finished_at, r.error_class, r.error,
                   CASE WHEN r.status = 'running' THEN (
                       SELECT CASE WHEN count(*) FILTER (WHERE p.lease_until >= now()) = 0
                                    AND (count(*) FILTER (WHERE p.status = 'running') > 0
                                         OR greatest(r.started_at, max(p.updated_at)) < now() - %s::interval)
                                   THEN coalesce(max(p.lease_until), greatest(r.started_at, max(p.updated_at))) END
                       FROM dailyfetch.partitions p WHERE p.run_id = r.id)
                   END AS lapsed
            FROM dailyfetch.runs r WHERE r.job = %s
            ORDER BY r.started_at DESC, r.id DESC LIMIT %s
            """,
            (f"{IDLE_ABANDONED} seconds", job, limit),
        )
        rows = cur.fetchall()
    conn.commit()
    return [_jsonable(_abandoned(r)) for r in rows]


IDLE_ABANDONED = 3600  # a 'running' run without a live claim or any activity for this long is abandoned


def _abandoned(row: dict[str, Any]) -> dict[str, Any]:
    """A 'running' run whose claims all lapsed, as readers should see it: failed, abandoned.

    A worker killed -9 (out of memory, say) records no end, so its run stays 'running' in
    the ledger until a run resumes it. Once no partition holds a live lease and a claim
    lapsed without being released (or nothing happened for an hour), nothing is running
    it: readers are shown ``failed`` with error class ``RunAbandoned``. The ledger row is
    left as it is; the next ``dailyfetch run`` for the window resumes it.
    """
    lapsed = row.pop("lapsed", None)
    if lapsed is None:
        return row
    when = lapsed.isoformat(timespec="seconds") if isinstance(lapsed, datetime) else str(lapsed)
    return {
        **row,
        "status": "failed",
        "error_class": "RunAbandoned",
        "error": f"abandoned: its workers stopped without recording an end (killed, or out of memory?) "
        f"and their claims lapsed at {when}; 'dailyfetch run' for this window resumes it",
    }


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime | date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    duration = None
    if row.get("finished_at") and row.get("started_at"):
        duration = (row["finished_at"] - row["started_at"]).total_seconds()
    out["duration_seconds"] = duration
    return out


def _unseal_progress(stored: Any) -> dict[str, Any] | None:
    """A claim's progress as the worker saved it: secrets restored, integers of any size exact."""
    if stored is None:
        return None
    restored: dict[str, Any] = jsontext.loads(unseal(jsontext.dumps(stored).decode()))
    return restored
