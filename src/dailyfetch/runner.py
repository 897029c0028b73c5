"""Run a job for one logical date: claim partitions, fetch pages, commit batches.

The whole exactly-once argument is in :func:`_flush`: a batch's rows and its
partition's progress (the source state to resume after the batch) commit in one
transaction, and that transaction re-checks this worker's claim. A crash at any
point loses at most the uncommitted batch, which the next run fetches again
from the committed progress.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import httpx
import psycopg
import structlog

from dailyfetch import ledger
from dailyfetch.config import Config
from dailyfetch.database import EMBEDDED, connect, resolve_database_url, start_embedded
from dailyfetch.errors import ClaimLostError, DailyfetchError, DatabaseUnavailableError, LoadError
from dailyfetch.fetch.http import build_client
from dailyfetch.fetch.python import fetch_python_pages, load_function
from dailyfetch.fetch.rest import fetch_rest_pages
from dailyfetch.fetch.source import FetchContext, PageIterator, Record
from dailyfetch.load import columns as cols
from dailyfetch.load import writer
from dailyfetch.metrics import emit_run_metrics
from dailyfetch.plan import RunPlan, plan_run
from dailyfetch.redact import redact

Outcome = Literal["succeeded", "already_succeeded", "in_progress_elsewhere", "failed", "interrupted"]
log = structlog.get_logger("dailyfetch")


@dataclass
class RunResult:
    """What one ``dailyfetch run`` did."""

    job: str
    logical_date: date
    outcome: Outcome
    rows: int = 0
    duration: float = 0.0
    error: str | None = None
    run_id: int | None = None

    @property
    def exit_code(self) -> int:
        """0 when the date is done or being done elsewhere, 1 when this run failed."""
        if self.outcome == "interrupted":
            return 1
        return 1 if self.outcome == "failed" else 0


@dataclass
class _Worker:
    config: Config
    plan: RunPlan
    conn: psycopg.Connection[Any]
    run_id: int
    worker: str
    client: httpx.Client
    config_dir: Path | None
    spec: writer.TableSpec = field(init=False)
    into: str = field(init=False)
    columns: dict[str, str] = field(default_factory=dict)
    finished_run: bool = False

    def __post_init__(self) -> None:
        dest = self.config.destination
        self.spec = writer.TableSpec(
            schema=dest.schema_,
            table=dest.table,
            primary_key=list(dest.primary_key),
            mode=dest.write_mode,
            declared=dict(dest.columns),
        )
        replace = self.spec.mode == "replace"
        self.into = writer.shadow_name(dest.table, self.run_id) if replace else dest.table

    def process(self, claim: ledger.Claim) -> None:
        bound = log.bind(job=self.plan.job, date=self.plan.logical_date.isoformat(), partition=claim.key)
        bound.info("partition.started", attempt=claim.attempts, resumed=claim.progress is not None)
        started = time.monotonic()
        if self.spec.mode == "replace":
            writer.prepare_shadow(self.conn, self.spec, self.into)
        self.columns = writer.read_columns(self.conn, self.spec.schema, self.into) or {}
        self.conn.commit()
        rows = 0
        if claim.progress is not None and claim.progress.get("done"):
            rows += self._flush([], claim, claim.progress, pages=0, fresh=False, final=True)
        else:
            fresh = claim.progress is None
            buffer: list[Record] = []
            pages, resume = 0, claim.progress or {}
            batch_size = self.config.destination.batch_size
            for page in self._pages(claim):
                buffer.extend(page.records)
                pages += 1
                resume = page.resume
                if len(buffer) >= batch_size and not resume.get("done"):
                    rows += self._flush(buffer, claim, resume, pages=pages, fresh=fresh, final=False)
                    buffer, pages, fresh = [], 0, False
            rows += self._flush(buffer, claim, {"done": True}, pages=pages, fresh=fresh, final=True)
        bound.info("partition.done", rows=rows, seconds=round(time.monotonic() - started, 3))

    def _pages(self, claim: ledger.Claim) -> PageIterator:
        variables = self.plan.variables(self._partition(claim))
        source = self.config.source
        if source.kind == "rest":
            return fetch_rest_pages(source, self.client, variables, claim.progress)
        assert source.function is not None
        function = load_function(source.function, self.config_dir)
        ctx = FetchContext(
            date=self.plan.logical_date,
            partition=dict(claim.values),
            client=self.client,
            variables=variables,
            log=log.bind(job=self.plan.job, partition=claim.key),
        )
        return fetch_python_pages(function, ctx, claim.progress)

    def _partition(self, claim: ledger.Claim) -> Any:
        from dailyfetch.plan import Partition

        return Partition(dict(claim.values))

    def _flush(
        self,
        buffer: list[Record],
        claim: ledger.Claim,
        resume: dict[str, Any],
        *,
        pages: int,
        fresh: bool,
        final: bool,
    ) -> int:
        spec = self.spec
        records = writer.dedupe(buffer, spec.primary_key) if spec.primary_key else buffer
        observed = cols.observe(records)
        if any(name not in self.columns for name, types in observed.items() if cols.infer_type(types)):
            self.columns = writer.prepare_table(self.conn, spec, self.into, observed)
        names = [n for n in observed if n in self.columns]
        writer.check_values(records, observed, self.columns, spec.primary_key)
        lease = self.config.job.lease_seconds
        try:
            with self.conn.transaction():
                tags = None
                if spec.mode == "append":
                    tags = (self.plan.logical_date, claim.key)
                    if fresh:
                        writer.delete_partition_rows(self.conn, spec, self.into, *tags)
                if fresh:
                    ledger.reset_partition_rows(self.conn, self.run_id, claim.key)
                written = writer.write_batch(
                    self.conn, spec, self.into, records, self.columns, names, tags=tags
                )
                ledger.save_progress(
                    self.conn, self.run_id, claim.key, self.worker, resume,
                    rows=written, pages=pages, lease_seconds=lease,
                )  # fmt: skip
                if final:
                    ledger.lock_run(self.conn, self.run_id)
                    if ledger.complete_partition(self.conn, self.run_id, claim.key, self.worker):
                        if spec.mode == "replace":
                            writer.swap_in(self.conn, spec, self.into)
                        ledger.finish_run(self.conn, self.run_id)
                        self.finished_run = True
        except psycopg.errors.DataError as exc:
            bad = cols.find_bad_value(records, self.columns, spec.primary_key)
            raise bad or LoadError(f"cannot write to {spec.schema}.{self.into}: {_pg_message(exc)}") from None
        except (psycopg.errors.IntegrityError, psycopg.errors.ProgrammingError) as exc:
            raise LoadError(f"cannot write to {spec.schema}.{self.into}: {_pg_message(exc)}") from None
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailableError(f"lost the database connection: {_pg_message(exc)}") from None
        structlog.get_logger("dailyfetch").debug(
            "batch.committed", partition=claim.key, rows=written, final=final
        )
        return written


def _pg_message(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return redact(lines[0] if lines else type(exc).__name__)


@contextmanager
def _heartbeat(url: str, worker: str, lease_seconds: int) -> Iterator[None]:
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
                log.warning("lease.heartbeat_failed", error=str(exc))
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


def run_job(
    config: Config,
    *,
    logical_date: date | None = None,
    force: bool = False,
    database_url: str | None = None,
    config_dir: Path | None = None,
) -> RunResult:
    """Run ``config``'s job for one logical date and return what happened."""
    started = time.monotonic()
    plan = plan_run(config, logical_date)
    url, _origin = resolve_database_url(database_url, config.database.url)
    if url == EMBEDDED:
        url = start_embedded()
    conn = connect(url)
    try:
        ledger.ensure_ledger(conn)
        run, already = ledger.open_run(conn, plan, force=force)
        bound = log.bind(job=plan.job, date=plan.logical_date.isoformat(), run_id=run.id)
        if already:
            bound.info("run.skipped", reason="already succeeded", hint="use --force to fetch it again")
            return RunResult(plan.job, plan.logical_date, "already_succeeded", run_id=run.id)
        bound.info("run.started", partitions=len(plan.partitions), generation=run.generation)
        return _work(config, plan, conn, run.id, url, config_dir, started, bound)
    finally:
        conn.close()


def _work(
    config: Config,
    plan: RunPlan,
    conn: psycopg.Connection[Any],
    run_id: int,
    url: str,
    config_dir: Path | None,
    started: float,
    bound: Any,
) -> RunResult:
    worker_name = ledger.worker_id()
    source = config.source
    attempted: list[str] = []
    failure: BaseException | None = None
    status: Outcome = "succeeded"
    with build_client(connect_timeout=source.connect_timeout, read_timeout=source.read_timeout) as client:
        worker = _Worker(config, plan, conn, run_id, worker_name, client, config_dir)
        with _heartbeat(url, worker_name, config.job.lease_seconds):
            while failure is None:
                claim = ledger.claim_partition(conn, run_id, worker_name, config.job.lease_seconds, attempted)
                if claim is None:
                    break
                attempted.append(claim.key)
                try:
                    worker.process(claim)
                except ClaimLostError as exc:
                    bound.warning("partition.lost", partition=claim.key, error=str(exc))
                except (DailyfetchError, psycopg.Error) as exc:
                    failure, status = exc, "failed"
                    _release(conn, run_id, claim.key, worker_name, "failed", exc)
                except (KeyboardInterrupt, SystemExit) as exc:
                    failure, status = exc, "interrupted"
                    _release(conn, run_id, claim.key, worker_name, "interrupted", _Interrupted(exc))
                    break
    duration = time.monotonic() - started
    rows = _safe_rows(conn, run_id)
    done = len(attempted) if failure is None else len(attempted) - 1
    if failure is not None:
        error = failure if isinstance(failure, Exception) else _Interrupted(failure)
        _stop(conn, run_id, status, error)
        message = redact(str(error))
        bound.error("run.finished", status=status, rows=rows, seconds=round(duration, 3), error=message,
                    error_class=type(error).__name__)  # fmt: skip
        emit_run_metrics(plan.job, succeeded=False, rows=rows, duration=duration, partitions_done=done)
        if isinstance(failure, KeyboardInterrupt | SystemExit):
            raise failure
        return RunResult(plan.job, plan.logical_date, status, rows, duration, message, run_id)
    if worker.finished_run:
        bound.info("run.finished", status="succeeded", rows=rows, seconds=round(duration, 3))
        emit_run_metrics(plan.job, succeeded=True, rows=rows, duration=duration, partitions_done=done)
        return RunResult(plan.job, plan.logical_date, "succeeded", rows, duration, None, run_id)
    bound.info("run.finished", status="in_progress_elsewhere", rows=rows, seconds=round(duration, 3),
               note="other workers hold the remaining partitions")  # fmt: skip
    return RunResult(plan.job, plan.logical_date, "in_progress_elsewhere", rows, duration, None, run_id)


class _Interrupted(DailyfetchError):
    def __init__(self, cause: BaseException) -> None:
        name = "SIGINT" if isinstance(cause, KeyboardInterrupt) else "a stop signal"
        super().__init__(f"interrupted by {name}; committed progress is kept and the next run resumes")


def _release(
    conn: psycopg.Connection[Any], run_id: int, key: str, worker: str, status: str, exc: BaseException
) -> None:
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        ledger.stop_partition(conn, run_id, key, worker, status, exc)
    except psycopg.Error as err:
        log.warning("ledger.update_failed", error=_pg_message(err))


def _stop(conn: psycopg.Connection[Any], run_id: int, status: str, exc: BaseException) -> None:
    try:
        ledger.stop_run(conn, run_id, status, exc)
    except psycopg.Error as err:
        log.warning("ledger.update_failed", error=_pg_message(err))


def _safe_rows(conn: psycopg.Connection[Any], run_id: int) -> int:
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        return ledger.run_rows(conn, run_id)
    except psycopg.Error:
        return 0
