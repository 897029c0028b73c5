"""Which scheduled windows have no succeeded run: catch-up, backfill skips, ``runs --missing``.

"Done" always means the ledger holds a run of the job for that window (its
``logical_time``) with status ``succeeded`` (any generation). Windows are passed
around as keys (see :mod:`dailyfetch.window`): logical dates for day and week
windows, window starts for hour windows. A ledger that does not exist yet holds no
runs; nothing here creates it except :class:`SucceededDatesReader`, which the
scheduler uses and which calls :func:`dailyfetch.ledger.ensure_ledger` once. An
existing version 3 ledger is upgraded in place before it is read.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import orjson
import psycopg

from dailyfetch import ledger
from dailyfetch.config import Config
from dailyfetch.database import connect
from dailyfetch.fire_times import FireCalendar
from dailyfetch.window import DAY, Window, format_key

__all__ = [
    "CatchUpPolicy",
    "LedgerRun",
    "SucceededDatesReader",
    "latest_runs",
    "missing_dates",
    "print_missing",
    "select_catch_up",
    "succeeded_dates",
]

CatchUpPolicy = Literal["none", "latest", "all"]
Connection = psycopg.Connection[Any]


def _ledger_exists(conn: Connection) -> bool:
    row = conn.execute("SELECT to_regclass('dailyfetch.runs') IS NOT NULL").fetchone()
    if not (row and row[0]):
        return False
    conn.commit()
    ledger.ensure_ledger(conn)  # a no-op unless an older version needs its in-place upgrade
    return True


def succeeded_dates(conn: Connection, job: str, start: date, end: date, window: Window = DAY) -> set[date]:
    """The window keys in ``[start, end]`` (inclusive) with a succeeded run of ``job``.

    Only runs on ``window``'s grid count: after a change from ``"1h"`` to ``"1d"``,
    an hourly run at 05:00 does not make its day done.
    """
    try:
        if not _ledger_exists(conn):
            return set()
        rows = conn.execute(
            "SELECT DISTINCT logical_time FROM dailyfetch.runs "
            "WHERE job = %s AND status = 'succeeded' AND logical_time BETWEEN %s AND %s",
            (job, window.start_of(start), window.start_of(end)),
        ).fetchall()
    finally:
        conn.commit()
    return {window.key(row[0]) for row in rows if window.floor(row[0]) == row[0]}


def first_logical_date(conn: Connection, job: str) -> date | None:
    """The earliest logical date ``job`` has any run for, or None."""
    try:
        if not _ledger_exists(conn):
            return None
        row = conn.execute("SELECT min(logical_date) FROM dailyfetch.runs WHERE job = %s", (job,)).fetchone()
    finally:
        conn.commit()
    return row[0] if row else None


@dataclass(frozen=True)
class LedgerRun:
    """The newest generation of a run for one logical date."""

    status: str
    rows: int
    error: str | None


def latest_runs(conn: Connection, job: str, dates: list[date], window: Window = DAY) -> dict[date, LedgerRun]:
    """The newest run of ``job`` for each of the window keys ``dates`` that has one."""
    try:
        if not dates or not _ledger_exists(conn):
            return {}
        rows = conn.execute(
            "SELECT DISTINCT ON (logical_time) logical_time, status, rows, error FROM dailyfetch.runs "
            "WHERE job = %s AND logical_time = ANY(%s) ORDER BY logical_time, generation DESC",
            (job, [window.start_of(d) for d in dates]),
        ).fetchall()
    finally:
        conn.commit()
    return {window.key(row[0]): LedgerRun(row[1], int(row[2]), row[3]) for row in rows}


def select_catch_up(scheduled: list[date], succeeded: set[date], policy: CatchUpPolicy) -> list[date]:
    """The dates catch-up runs, oldest first.

    ``all``: every scheduled date without a succeeded run. ``latest``: the most recent
    scheduled date, if it has none (older gaps are left to ``dailyfetch backfill``).
    ``none``: nothing.
    """
    if policy == "none" or not scheduled:
        return []
    if policy == "latest":
        newest = max(scheduled)
        return [] if newest in succeeded else [newest]
    return sorted(d for d in set(scheduled) if d not in succeeded)


def missing_dates(
    config: Config, conn: Connection, since: date | None = None, until: datetime | None = None
) -> list[date]:
    """The scheduled windows from ``since`` up to ``until`` with no succeeded run, sorted (as keys).

    Scheduled windows are the windows of the schedule's fire times between midnight
    of ``since`` (in the schedule's zone) and ``until`` (default: now). ``since``
    defaults to the first logical date in the ledger for this job, or, with no runs,
    ``[schedule].catch_up_days`` before today. A ``rate()`` schedule is anchored at
    midnight of ``since``.
    """
    calendar = FireCalendar.from_config(config)
    end = until or datetime.now(UTC)
    if since is None:
        today = end.astimezone(calendar.tz).date()
        since = first_logical_date(conn, config.job.name) or today - timedelta(
            days=config.schedule.catch_up_days
        )
    start, window = calendar.day_start(since), calendar.window
    keys = calendar.anchored(start).scheduled_keys(start, end)
    scheduled = [k for k in keys if window.start_of(k).date() >= since]
    if not scheduled:
        return []
    done = succeeded_dates(conn, config.job.name, scheduled[0], scheduled[-1], window)
    return [k for k in scheduled if k not in done]


def print_missing(config: Config, *, since: str | None, as_json: bool, database_url: str | None) -> None:
    """Print :func:`missing_dates`: a JSON array of dates, or one date a line."""
    from dailyfetch.database import resolve_database_url
    from dailyfetch.fire_times import parse_date_option

    first = parse_date_option(since, "--since") if since else None
    url, _ = resolve_database_url(database_url, config.database.url)
    conn = connect(url)
    try:
        dates = missing_dates(config, conn, first)
    finally:
        conn.close()
    labels = [format_key(d) for d in dates]
    if as_json:
        sys.stdout.write(orjson.dumps(labels).decode() + "\n")
    elif not dates:
        sys.stdout.write(f"no missing {'windows' if config.job.run_window.sub_day else 'dates'} "
                         f"for job '{config.job.name}'\n")  # fmt: skip
    else:
        sys.stdout.writelines(f"{label}\n" for label in labels)
        sys.stderr.write(
            f"{len(dates)} missing; run them with: dailyfetch backfill --start {labels[0]} --end {labels[-1]}\n"
        )


class SucceededDatesReader:
    """``reader(start, end)``: the succeeded dates of a job, read from a fresh connection each call."""

    def __init__(self, url: str, job: str, window: Window = DAY) -> None:
        self._url = url
        self._job = job
        self._window = window
        self._ensured = False

    def __call__(self, start: date, end: date) -> set[date]:
        """The window keys in ``[start, end]`` with a succeeded run; creates the ledger once."""
        conn = connect(self._url, attempts=3)
        try:
            if not self._ensured:
                ledger.ensure_ledger(conn)
                self._ensured = True
            return succeeded_dates(conn, self._job, start, end, self._window)
        finally:
            conn.close()
