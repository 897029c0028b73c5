"""The run-history report: one self-contained HTML file with a calendar, charts and failures.

:func:`collect_report` turns the ledger's runs and the schedule into
:class:`ReportData` (no I/O); :mod:`dailyfetch.report_html` renders it as HTML with
inline CSS and SVG, no scripts and no network requests; :func:`write_report` does
both for ``dailyfetch report``.

A day is *missing* when the schedule fired for it (a fire at local date F covers
logical date F when ``[job].logical_date = "today"``, else F - 1), that fire is in
the past, the job had already started running (the day is on or after its first
logical date in the ledger) and the ledger has no run for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dailyfetch.fire_times import FireCalendar
from dailyfetch.history import RunRecord, median

if TYPE_CHECKING:
    from dailyfetch.config import Config

__all__ = [
    "DayCell",
    "ReportData",
    "build_report",
    "collect_report",
    "scheduled_dates",
    "trailing_medians",
    "write_report",
]

MIN_FOR_MEDIAN = 3
# What each state means, in the order the legend shows them.
STATES = {
    "succeeded": "succeeded",
    "failed": "failed",
    "interrupted": "interrupted",
    "missing": "missing: scheduled, no run",
    "running": "running or stopped without an end",
    "upcoming": "not yet due",
    "none": "not scheduled or before the first run",
}


@dataclass(frozen=True)
class DayCell:
    """One logical date of the calendar: its state and the run that decided it."""

    day: date
    state: str
    run: RunRecord | None


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, computed from the ledger and the config."""

    job: str
    generated_at: datetime
    timezone: str
    expression: str
    schedule_text: str
    logical_rule: str
    next_fires: list[tuple[datetime, date]]
    days: list[DayCell]
    runs: list[RunRecord]
    failures: list[RunRecord]
    median_window: int
    low_volume_fraction: float | None

    @property
    def first_day(self) -> date:
        """The first logical date shown."""
        return self.days[0].day

    @property
    def last_day(self) -> date:
        """The last logical date shown."""
        return self.days[-1].day

    def count(self, state: str) -> int:
        """How many days are in ``state``."""
        return sum(1 for d in self.days if d.state == state)


def scheduled_dates(config: Config, first: date, last: date, now: datetime) -> tuple[set[date], set[date]]:
    """The logical dates in [first, last] the schedule fired for by ``now``, and those still to come.

    One question per local day (its first fire time), so a schedule that fires every
    minute costs no more than a daily one. Fire times map to logical dates through
    :class:`dailyfetch.fire_times.FireCalendar`, as the scheduler maps them; a
    ``rate()`` schedule is anchored at midnight of ``first``.
    """
    calendar = FireCalendar.from_config(config)
    calendar = calendar.anchored(calendar.day_start(first))
    fired: set[date] = set()
    upcoming: set[date] = set()
    local = first - timedelta(days=1)
    while local <= last + timedelta(days=1):
        start = calendar.day_start(local)
        fire = calendar.next_after(start - timedelta(microseconds=1))
        if fire is not None and fire < calendar.day_start(local + timedelta(days=1)):
            day = calendar.logical_date(fire)
            if first <= day <= last:
                (fired if fire <= now else upcoming).add(day)
        local += timedelta(days=1)
    return fired, upcoming


def trailing_medians(values: list[float | None], window: int) -> list[float | None]:
    """For each position, the median of the last ``window`` non-None values before it (needs 3)."""
    out: list[float | None] = []
    seen: list[float] = []
    for value in values:
        recent = seen[-window:]
        out.append(median(recent) if len(recent) >= MIN_FOR_MEDIAN else None)
        if value is not None:
            seen.append(value)
    return out


def collect_report(
    config: Config,
    runs: list[RunRecord],
    *,
    days: int,
    now: datetime,
    first_run_day: date | None,
) -> ReportData:
    """Build the report's data from ``runs`` (every run of the window, any generation)."""
    from dailyfetch.plan import default_logical_date

    tz = ZoneInfo(config.schedule.timezone)
    now = now.astimezone(tz)
    last = default_logical_date(config, now)
    first = last - timedelta(days=days - 1)
    latest: dict[date, RunRecord] = {}
    for run in sorted(runs, key=lambda r: (r.logical_date, r.generation, r.id)):
        if first <= run.logical_date <= last:
            latest[run.logical_date] = run
    fired, upcoming = scheduled_dates(config, first, last, now)
    cells: list[DayCell] = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        found = latest.get(day)
        if found is not None:
            state = found.status if found.status in STATES else "running"
        elif day in fired and first_run_day is not None and day >= first_run_day:
            state = "missing"
        elif day in upcoming:
            state = "upcoming"
        else:
            state = "none"
        cells.append(DayCell(day, state, found))
    calendar = FireCalendar.from_config(config)
    fires = calendar.upcoming(now, 5)
    failures = [
        r for r in sorted(runs, key=lambda r: (r.finished_at or r.started_at), reverse=True)
        if r.status in ("failed", "interrupted") and first <= r.logical_date <= last
    ][:20]  # fmt: skip
    rule = "the same day it runs" if config.job.logical_date == "today" else "the day before it runs"
    low = config.notify.low_volume_fraction if "low_volume" in config.notify.on else None
    return ReportData(
        job=config.job.name,
        generated_at=now,
        timezone=config.schedule.timezone,
        expression=config.schedule.expression,
        schedule_text=calendar.expression.describe(),
        logical_rule=f'each run fetches {rule} ([job].logical_date = "{config.job.logical_date}")',
        next_fires=[(f.astimezone(tz), calendar.logical_date(f)) for f in fires],
        days=cells,
        runs=[latest[d] for d in sorted(latest)],
        failures=failures,
        median_window=config.notify.low_volume_window,
        low_volume_fraction=low,
    )


def build_report(config: Config, *, days: int, database_url: str | None, now: datetime | None = None) -> str:
    """Read the ledger and return the report as one HTML document."""
    from dailyfetch import history
    from dailyfetch.database import connect, resolve_database_url
    from dailyfetch.missed import first_logical_date
    from dailyfetch.report_html import render_report

    tz = ZoneInfo(config.schedule.timezone)
    moment = (now or datetime.now(tz)).astimezone(tz)
    url, _ = resolve_database_url(database_url, config.database.url)
    conn = connect(url)
    try:
        runs: list[RunRecord] = []
        first_run_day = None
        if history.ledger_exists(conn):
            since = moment.date() - timedelta(days=days + 1)
            runs = history.runs_since(conn, config.job.name, since)
            first_run_day = first_logical_date(conn, config.job.name)
    finally:
        conn.close()
    data = collect_report(config, runs, days=days, now=moment, first_run_day=first_run_day)
    return render_report(data)


def write_report(config: Config, output: Path, *, days: int, database_url: str | None) -> Path:
    """Write the report to ``output`` and return its path."""
    document = build_report(config, days=days, database_url=database_url)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    return output
