"""Workers of a run: claim partitions one at a time, process each, ride out transient database errors.

Every error a step raises is first classified into dailyfetch's kinds
(:func:`dailyfetch.dberrors.translate` for psycopg's, by SQLSTATE); the decisions
below branch on those kinds only:

* :class:`~dailyfetch.errors.ClaimLostError`: another worker holds the partition; let it go.
* :class:`~dailyfetch.errors.RunInterrupted`: the deadline or a signal; release the
  partition as ``interrupted`` (its committed progress is kept).
* a ``transient`` :class:`~dailyfetch.errors.LoadError` (a lost connection, a deadlock):
  back off, reconnect if the connection is gone, re-read the claim and resume from its
  committed progress (:class:`_Retry`).
* anything else: the partition fails at once, and with it the run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import structlog

from dailyfetch import ledger
from dailyfetch.config import Config
from dailyfetch.database import connect
from dailyfetch.db_cancel import StatementCanceller
from dailyfetch.dberrors import is_connection_lost, translate
from dailyfetch.errors import (
    ClaimLostError,
    DailyfetchError,
    DatabaseUnavailableError,
    LoadError,
    RunInterrupted,
)
from dailyfetch.fetch.control import FetchControl
from dailyfetch.partition import PartitionWorker
from dailyfetch.plan import RunPlan
from dailyfetch.redact import redact
from dailyfetch.stopping import StopToken

__all__ = ["RECONNECT_SECONDS", "Shared", "claim_loop"]

log = structlog.get_logger("dailyfetch")
RECONNECT_SECONDS = 60.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 8.0


@dataclass
class Shared:
    """State the worker threads of one process share."""

    url: str
    canceller: StatementCanceller
    threads: int = 1
    exclude: list[str] = field(default_factory=list)
    failure: BaseException | None = None
    interrupted: RunInterrupted | None = None
    finished_run: bool = False
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def claim_loop(
    config: Config,
    plan: RunPlan,
    run_id: int,
    worker_name: str,
    client: Any,
    control: FetchControl,
    config_dir: Path | None,
    shared: Shared,
) -> None:
    """One worker thread: claim partitions of the run and process them until none is left or the run stops."""
    conn = connect(shared.url)
    worker = PartitionWorker(config, plan, conn, run_id, worker_name, client, control, shared.url, config_dir)
    worker.share = shared.threads
    watched = shared.canceller.watch(lambda: worker.conn)
    try:
        while shared.failure is None and shared.interrupted is None and not control.stop.requested:
            claim = _claim(worker, shared, config.job.lease_seconds)
            if claim is None:
                break
            _process(worker, claim, shared)
        if control.stop.requested and not shared.finished_run and shared.failure is None:
            with shared.lock:  # stopped between partitions: still an interrupted run
                shared.interrupted = shared.interrupted or RunInterrupted(
                    control.stop.reason or "stopped", exit_code=control.stop.exit_code
                )
    except RunInterrupted as exc:
        with shared.lock:
            shared.interrupted = shared.interrupted or exc
    except Exception as exc:  # the ledger itself failed, or a bug: record it, never a bare traceback
        with shared.lock:
            shared.failure = shared.failure or exc
    finally:
        shared.canceller.unwatch(watched)
        with shared.lock:
            shared.finished_run = shared.finished_run or worker.finished_run
        worker.conn.close()


def _claim(worker: PartitionWorker, shared: Shared, lease: int) -> ledger.Claim | None:
    """Claim the next partition, riding out a lost connection (with backoff) for up to a minute."""
    retry = _Retry(worker.control.stop)
    while True:
        try:
            if retry.pending:
                _resume(worker, retry)
            with shared.lock:
                claim = ledger.claim_partition(
                    worker.conn, worker.run_id, worker.worker, lease, shared.exclude
                )
                if claim is not None:
                    shared.exclude.append(claim.key)
                return claim
        except Exception as raw:
            exc = _classify(raw, worker, "claiming a partition")
            if not retry.worth_it(exc):
                raise exc from None
            log.warning(retry.event(exc), error=redact(str(exc)), attempt=retry.attempts + 1)


@dataclass
class _Retry:
    """When to try a database step again: transient kinds only, with backoff, for a bounded time.

    Only :class:`~dailyfetch.errors.LoadError` kinds that are ``transient`` are retried
    here (a lost connection, a deadlock or serialization failure; see dailyfetch.dberrors).
    A source error reaching the runner was already retried by the HTTP layer, and every
    permanent kind fails at once. Each retry waits first (0.5 s, doubling up to 8 s, on the
    stop token, so a deadline or signal ends the wait), so a retry that fetches pages again
    never does so in a tight loop; the retries end :data:`RECONNECT_SECONDS` after the first
    failure, or after the last one that followed progress.
    """

    stop: StopToken
    since: float | None = None
    delay: float = 0.0
    attempts: int = 0
    pending: bool = False
    seen: tuple[int, int] | None = None

    def worth_it(self, exc: BaseException) -> bool:
        """Whether ``exc`` is retried now (and the next step must :meth:`wait` first)."""
        if not (isinstance(exc, LoadError) and exc.transient):
            return False
        now = time.monotonic()
        self.since = now if self.since is None else self.since
        self.pending = now - self.since < RECONNECT_SECONDS
        return self.pending

    def wait(self) -> None:
        """Back off before the next attempt; raise :class:`RunInterrupted` if the run must stop."""
        self.delay = min(self.delay * 2, BACKOFF_MAX) if self.delay else BACKOFF_FIRST
        self.attempts += 1
        self.pending = False
        self.stop.sleep(self.delay)

    def progressed(self, claim: ledger.Claim) -> None:
        """Start the time bound and the backoff over when the claim's committed progress moved on."""
        mark = (claim.rows, claim.pages)
        if self.seen is not None and mark != self.seen:
            self.since, self.delay = None, 0.0
        self.seen = mark

    @staticmethod
    def event(exc: BaseException) -> str:
        return "database.reconnecting" if isinstance(exc, DatabaseUnavailableError) else "database.retrying"


def _resume(worker: PartitionWorker, retry: _Retry) -> None:
    """Back off, then make the worker's connection usable: a new one if it was lost, else roll back."""
    retry.wait()
    conn = worker.conn
    if conn.closed:
        worker.conn = connect(worker.url, attempts=1)
    elif conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.rollback()


def _classify(exc: Exception, worker: PartitionWorker, where: str) -> DailyfetchError:
    """Any error of a step as one of dailyfetch's kinds (psycopg's by SQLSTATE, in dailyfetch.dberrors)."""
    if isinstance(exc, DailyfetchError):
        return exc
    if isinstance(exc, psycopg.Error):
        if is_connection_lost(exc):
            worker.conn.close()  # a new one is made before the next attempt
        out = translate(exc, where=where, stop=worker.control.stop, conn=worker.conn)
    else:
        out = _unexpected(exc)
    out.__cause__ = exc  # the --debug traceback shows where it came from
    return out


def _process(worker: PartitionWorker, claim: ledger.Claim, shared: Shared) -> None:
    """Process one claim; on a transient database error back off, reconnect and resume from committed progress."""
    retry = _Retry(worker.control.stop)
    retry.progressed(claim)
    current = claim
    while True:
        try:
            if retry.pending:
                _resume(worker, retry)
                found = ledger.reclaim(worker.conn, worker.run_id, claim.key, worker.worker)
                if found is None:
                    log.warning("partition.lost", partition=claim.key, error="claim gone after reconnecting")
                    return
                current = found
                retry.progressed(current)
            worker.process(current)
        except Exception as raw:
            exc = _classify(raw, worker, f"partition {claim.key!r} into {worker.spec.schema}.{worker.into}")
        else:
            with shared.lock:
                shared.done += 1
            worker.control.observer.partition_finished(claim.key, "succeeded")
            return
        if isinstance(exc, ClaimLostError):
            log.warning("partition.lost", partition=claim.key, error=str(exc))
            return
        if isinstance(exc, RunInterrupted):
            with shared.lock:
                shared.interrupted = shared.interrupted or exc
            if not worker.conn.closed:  # else the database is away: the claim's lease runs out instead
                _release(worker, claim.key, "interrupted", exc)
            return
        if not retry.worth_it(exc):
            _fail(worker, claim.key, shared, exc)
            return
        log.warning(retry.event(exc), partition=claim.key, error=redact(str(exc)), attempt=retry.attempts + 1)


def _unexpected(exc: Exception) -> DailyfetchError:
    first = (str(exc).strip().splitlines() or [""])[0]
    return DailyfetchError(
        f"{type(exc).__name__}: {redact(first)}", hint="run with --debug for the traceback"
    )


def _fail(worker: PartitionWorker, key: str, shared: Shared, exc: BaseException) -> None:
    with shared.lock:
        shared.failure = shared.failure or exc
    log.error("partition.failed", partition=key, error=redact(str(exc)), error_class=type(exc).__name__)
    log.debug("partition.traceback", partition=key, exc_info=exc)
    _release(worker, key, "failed", exc)
    worker.control.observer.partition_finished(key, "failed")


def _release(worker: PartitionWorker, key: str, status: str, exc: BaseException) -> None:
    for _ in range(2):
        try:
            if worker.conn.closed:
                worker.conn = connect(worker.url, attempts=3)
            if worker.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                worker.conn.rollback()
            ledger.stop_partition(worker.conn, worker.run_id, key, worker.worker, status, exc)
            return
        except (DailyfetchError, psycopg.Error) as err:
            log.warning("ledger.update_failed", error=redact(str(err)))
            worker.conn.close()
