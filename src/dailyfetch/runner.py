"""Run a job for one logical date: open the run, let workers claim partitions, report.

A run is shared by every worker that joins it: threads of this process
(``[source] concurrency``), other processes (``run --workers N``), other hosts
(ECS ``task_count``). Each worker claims one partition at a time from the
ledger and processes it with :class:`~dailyfetch.partition.PartitionWorker`; the
worker that completes the last partition marks the run succeeded.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import httpx
import psycopg
import structlog

from dailyfetch import ledger, metrics
from dailyfetch.claims import Shared, claim_loop
from dailyfetch.config import Config
from dailyfetch.database import EMBEDDED, connect, resolve_database_url, start_embedded
from dailyfetch.db_cancel import StatementCanceller
from dailyfetch.dberrors import translate
from dailyfetch.errors import DailyfetchError
from dailyfetch.fetch.auth import build_auth
from dailyfetch.fetch.control import FetchControl
from dailyfetch.fetch.http import build_client
from dailyfetch.fetch.origin import origin_policy
from dailyfetch.heartbeat import heartbeat
from dailyfetch.metrics import emit_run_metrics
from dailyfetch.observe import NullObserver, RunObserver
from dailyfetch.plan import RunPlan, plan_run
from dailyfetch.redact import redact
from dailyfetch.stopping import StopToken, stop_on_signals

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
    exit_code: int = 0


@contextmanager
def _rarer_gc() -> Iterator[None]:
    """Collect cycles less often while records stream through; restore the thresholds after.

    Decoded JSON is acyclic, so reference counting frees every page and batch; but
    each page allocates thousands of containers, and with the default threshold
    (700) the cyclic collector ran every few records and re-scanned the batches
    alive at the time: a quarter of the process's CPU in W1 (benchmarks/README.md).
    The garbage that does form cycles (an httpx response a Python source did not
    close, say) is still collected by the automatic collections, only less often.
    (A ``gc.collect(1)`` after every batch cost W1 a tenth of its CPU: it re-scanned
    the next batch, already arriving.)
    """
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@_rarer_gc()
def run_job(
    config: Config,
    *,
    logical_date: date | None = None,
    force: bool = False,
    database_url: str | None = None,
    config_dir: Path | None = None,
    observer: RunObserver | None = None,
) -> RunResult:
    """Run ``config``'s job for one logical date and return what happened."""
    started = time.monotonic()
    plan = plan_run(config, logical_date)
    url, _origin = resolve_database_url(database_url, config.database.url)
    if url == EMBEDDED:
        url = start_embedded()
    stop = StopToken(config.job.timeout_seconds)
    source = config.source
    control = FetchControl.create(
        concurrency=source.concurrency,
        requests_per_second=source.requests_per_second,
        stop=stop,
        observer=observer or NullObserver(),
    )
    # The HTTP client loads its CA bundle (~50 ms) while the ledger is set up.
    with ThreadPoolExecutor(1, thread_name_prefix="dailyfetch-client") as side:
        making = side.submit(
            build_client,
            connect_timeout=source.connect_timeout,
            read_timeout=source.read_timeout,
            auth=build_auth(source.auth),
            # A Python source's own requests (ctx.client) are counted as they are sent.
            on_request=control.stats.count_request if source.kind == "python" else None,
            request_timeout=source.request_timeout,
            stop=stop,
            origins=origin_policy(source, plan),
        )
        try:
            run, already = _open(url, plan, force)
        except BaseException:
            making.add_done_callback(_close_client)
            raise
        client = making.result()
    bound = log.bind(job=plan.job, date=plan.label, run_id=run.id)
    if already:
        client.close()
        bound.info("run.skipped", reason="already succeeded", hint="use --force to fetch it again")
        return RunResult(plan.job, plan.key, "already_succeeded", run_id=run.id)
    bound.info("run.started", partitions=len(plan.partitions), generation=run.generation)
    control.observer.run_started(plan.job, plan.key, len(plan.partitions))
    canceller = StatementCanceller(stop)
    shared = Shared(url, canceller)
    worker_name = ledger.worker_id()
    threads = max(1, min(source.concurrency, len(plan.partitions)))
    shared.threads = threads

    def work() -> None:
        claim_loop(config, plan, run.id, worker_name, client, control, config_dir, shared)

    with (
        client,
        stop_on_signals(stop, grace=config.job.stop_grace_seconds, abort=client.close),
        heartbeat(url, worker_name, config.job.lease_seconds),
        canceller.running(),
    ):
        pool = [threading.Thread(target=work, name=f"dailyfetch-worker-{i}") for i in range(threads - 1)]
        for thread in pool:
            thread.start()
        work()
        for thread in pool:
            thread.join()
    return _report(config, plan, run.id, shared, control, time.monotonic() - started, bound)


def _close_client(done: Future[httpx.Client]) -> None:
    if done.exception() is None:
        done.result().close()


def _open(url: str, plan: RunPlan, force: bool) -> tuple[ledger.RunRow, bool]:
    conn = connect(url)
    try:
        ledger.ensure_ledger(conn)
        return ledger.open_run(conn, plan, force=force)
    except psycopg.Error as exc:
        raise translate(exc, where="opening the run in the ledger (schema dailyfetch)", conn=conn) from None
    finally:
        conn.close()


def prepare_run(config: Config, *, logical_date: date | None, force: bool, database_url: str | None) -> date:
    """Resolve the logical date and, with ``force``, start the run's new generation; return the date."""
    plan = plan_run(config, logical_date)
    url, _origin = resolve_database_url(database_url, config.database.url)
    conn = connect(start_embedded() if url == EMBEDDED else url)
    try:
        ledger.ensure_ledger(conn)
        if force:
            ledger.open_run(conn, plan, force=True)
    finally:
        conn.close()
    return plan.key


def _report(
    config: Config,
    plan: RunPlan,
    run_id: int,
    shared: Shared,
    control: FetchControl,
    duration: float,
    bound: Any,
) -> RunResult:
    rows = _ledger_call(shared.url, lambda c: ledger.run_rows(c, run_id), 0)
    stats = control.stats
    http: dict[str, float] = {
        metrics.HTTP_REQUESTS: stats.http_requests,
        metrics.HTTP_RETRIES: stats.http_retries,
        metrics.HTTP_429: stats.http_429,
    }
    summary = {"rows": rows, "seconds": round(duration, 3), "pages": stats.pages, "requests": stats.http_requests,
               "retries": stats.http_retries}  # fmt: skip
    error = shared.failure or shared.interrupted
    if error is not None:
        status: Outcome = "failed" if shared.failure is not None else "interrupted"
        _ledger_call(shared.url, lambda c: ledger.stop_run(c, run_id, status, error), None)
        message = redact(str(error))
        bound.error("run.finished", status=status, error=message, error_class=type(error).__name__, **summary)
        emit_run_metrics(
            plan.job, succeeded=False, rows=rows, duration=duration, partitions_done=shared.done, extra=http
        )
        control.observer.run_finished(status, rows)
        code = control.stop.exit_code if status == "interrupted" else 1
        return RunResult(plan.job, plan.key, status, rows, duration, message, run_id, code)
    if shared.finished_run:
        bound.info("run.finished", status="succeeded", **summary)
        emit_run_metrics(
            plan.job, succeeded=True, rows=rows, duration=duration, partitions_done=shared.done, extra=http
        )
        control.observer.run_finished("succeeded", rows)
        return RunResult(plan.job, plan.key, "succeeded", rows, duration, None, run_id)
    bound.info(
        "run.finished",
        status="in_progress_elsewhere",
        note="other workers hold the remaining partitions",
        **summary,
    )
    control.observer.run_finished("in_progress_elsewhere", rows)
    return RunResult(plan.job, plan.key, "in_progress_elsewhere", rows, duration, None, run_id)


def _ledger_call(url: str, call: Any, default: Any) -> Any:
    try:
        conn = connect(url, attempts=10)
    except DailyfetchError as exc:
        log.warning("ledger.update_failed", error=redact(str(exc)))
        return default
    try:
        return call(conn)
    except psycopg.Error as exc:
        log.warning("ledger.update_failed", error=redact(str(exc)))
        return default
    finally:
        conn.close()
