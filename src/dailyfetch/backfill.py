"""``dailyfetch backfill``: run every logical date (every window) in a range, a few at a time.

With ``[job] window = "1h"`` (or any hour or week window) the range is walked on the
window's grid: one run per existing window (see :mod:`dailyfetch.window`).

Each date runs as its own ``dailyfetch run --date D`` child process (see
:mod:`dailyfetch.launch`), up to ``workers`` at once. Child processes rather than
threads calling :func:`dailyfetch.runner.run_job`: a crash, a hang in a C extension
or a leak in one date's source code cannot take the others down, memory is returned
after each date, and a user's Python source function never shares globals with
another date's. The cost, an interpreter start per date (~0.3 s), is small next to a
day's fetch.

Dates the ledger already holds as succeeded are skipped (outcome ``skipped``) unless
``force``, which starts a new generation of each. After the children exit, each
date's outcome, rows and error are read back from the ledger, the one source of truth.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from dailyfetch.config import Config
from dailyfetch.database import EMBEDDED, connect, resolve_database_url, start_embedded
from dailyfetch.errors import ConfigError
from dailyfetch.launch import describe_exit, run_argv
from dailyfetch.missed import latest_runs, succeeded_dates
from dailyfetch.window import Window, format_key

__all__ = ["ChildExit", "DateResult", "date_range", "format_table", "run_backfill", "window_range"]

MAX_DAYS = 3660
MAX_WINDOWS = 24 * 366  # a year of hours
log = structlog.get_logger("dailyfetch")


@dataclass(frozen=True)
class ChildExit:
    """How one child run ended: its exit code and the last line it wrote to stderr."""

    code: int
    last_error: str | None = None


DateRunner = Callable[[date], ChildExit]


@dataclass(frozen=True)
class DateResult:
    """One row of the backfill table."""

    logical_date: date
    outcome: str  # succeeded | skipped | failed | in_progress_elsewhere
    rows: int = 0
    seconds: float = 0.0
    error: str | None = None


def date_range(start: date, end: date) -> list[date]:
    """Every date from ``start`` to ``end``, inclusive; ConfigError when the range is empty or huge."""
    if end < start:
        raise ConfigError(f"--end: {end} is before --start {start}", hint="swap them")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise ConfigError(f"--start/--end: {days} days is more than {MAX_DAYS}; backfill in smaller ranges")
    return [start + timedelta(days=i) for i in range(days)]


def window_range(window: Window, tz: ZoneInfo, start: date, end: date) -> list[date]:
    """The keys of every existing window from ``start`` to ``end`` (keys, inclusive); ConfigError when empty or huge."""
    if not window.sub_day and not window.weekly:
        return date_range(start, end)
    first, last = window.start_of(start), window.start_of(end)
    if last < first:
        raise ConfigError(f"--end: {format_key(end)} is before --start {format_key(start)}", hint="swap them")
    count = (last - first) // timedelta(hours=window.hours) + 1
    if count > MAX_WINDOWS:
        raise ConfigError(
            f"--start/--end: {count} windows is more than {MAX_WINDOWS}; backfill in smaller ranges"
        )
    return [window.key(t) for t in window.between(first, last, tz)]


class _ChildRunner:
    """Runs ``dailyfetch run`` for one date and waits; tracks live children to stop them on Ctrl-C."""

    def __init__(self, config_path: Path, database_url: str | None, force: bool) -> None:
        self.config_path = config_path.resolve()
        self.database_url = database_url
        self.force = force
        self.live: set[subprocess.Popen[str]] = set()
        self.lock = threading.Lock()

    def __call__(self, day: date) -> ChildExit:
        argv = run_argv(self.config_path, day, database_url=self.database_url, force=self.force, quiet=True)
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        with self.lock:
            self.live.add(process)
        try:
            _, stderr = process.communicate()
        finally:
            with self.lock:
                self.live.discard(process)
        errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
        return ChildExit(process.returncode, errors[-1].removeprefix("Error: ") if errors else None)

    def terminate_all(self) -> None:
        with self.lock:
            for process in self.live:
                process.terminate()


def run_backfill(
    config: Config,
    config_path: Path,
    start: date,
    end: date,
    *,
    workers: int = 1,
    force: bool = False,
    database_url: str | None = None,
    runner: DateRunner | None = None,
) -> list[DateResult]:
    """Run each window in ``[start, end]`` (``workers`` at a time); one result per window, in order.

    ``start`` and ``end`` are window keys: dates, or for hour windows naive datetimes
    (window starts). ``runner`` runs one window and waits for it (default: a
    ``dailyfetch run`` child process).
    """
    if workers < 1:
        raise ConfigError(f"--workers: must be 1 or more, got {workers}")
    if config.source.incremental is not None and workers > 1:
        # Every run of an incremental job starts at the mark the previous one committed:
        # runs side by side would read the same mark and fetch the same range twice.
        log.warning("backfill.sequential", reason="incremental job: one window at a time, oldest first")
        workers = 1
    window = config.job.run_window
    days = window_range(window, ZoneInfo(config.schedule.timezone), start, end)
    job = config.job.name
    url, _ = resolve_database_url(database_url, config.database.url)
    if url == EMBEDDED:
        url = start_embedded()
    conn = connect(url)
    try:
        done = set() if force else succeeded_dates(conn, job, start, end, window)
        todo = [d for d in days if d not in done]
        log.info("backfill.started", job=job, start=format_key(start), end=format_key(end), dates=len(todo),
                 skipped=len(days) - len(todo), workers=workers, force=force)  # fmt: skip
        child = runner or _ChildRunner(config_path, database_url, force)
        exits = _run_all(todo, child, workers)
        ledger = latest_runs(conn, job, days, window)
    finally:
        conn.close()
    results = []
    for day in days:
        run = ledger.get(day)
        if day in done:
            results.append(DateResult(day, "skipped", run.rows if run else 0))
            continue
        code, seconds, last_error = exits[day]
        if code == 0 and run is not None and run.status == "succeeded":
            results.append(DateResult(day, "succeeded", run.rows, seconds))
        elif code == 0:
            results.append(DateResult(day, "in_progress_elsewhere", run.rows if run else 0, seconds))
        else:
            error = (run.error if run and run.status != "succeeded" else None) or last_error
            rows = run.rows if run else 0
            results.append(DateResult(day, "failed", rows, seconds, error or describe_exit(code)))
    return results


def _run_all(days: list[date], runner: DateRunner, workers: int) -> dict[date, tuple[int, float, str | None]]:
    exits: dict[date, tuple[int, float, str | None]] = {}

    def timed(day: date) -> tuple[ChildExit, float]:
        started = time.monotonic()
        result = runner(day)
        return result, time.monotonic() - started

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dailyfetch-backfill")
    try:
        futures = {pool.submit(timed, day): day for day in days}
        for future in as_completed(futures):
            day = futures[future]
            result, seconds = future.result()
            exits[day] = (result.code, round(seconds, 3), result.last_error)
            event = log.info if result.code == 0 else log.error
            event("backfill.date_finished", date=format_key(day), exit_code=result.code,
                  outcome=describe_exit(result.code), seconds=round(seconds, 3))  # fmt: skip
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        if isinstance(runner, _ChildRunner):
            runner.terminate_all()
        raise
    pool.shutdown()
    return exits


def format_table(results: list[DateResult]) -> str:
    """The results as a plain-text table with a summary line."""
    header = ("date", "outcome", "rows", "seconds", "error")
    rows = [
        (
            format_key(r.logical_date),
            r.outcome,
            f"{r.rows:,}",
            f"{r.seconds:.1f}" if r.outcome != "skipped" else "-",
            r.error or "",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, *rows]:
        cells = [
            row[0].ljust(widths[0]),
            row[1].ljust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].rjust(widths[3]),
        ]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    lines.append(f"{len(results)} date{'s' if len(results) != 1 else ''}: {summary}")
    failed = [format_key(r.logical_date) for r in results if r.outcome == "failed"]
    if failed:
        lines.append(f"failed: {' '.join(failed)}; fix the cause and run the same backfill again")
    return "\n".join(lines) + "\n"
