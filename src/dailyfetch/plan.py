"""Plan a run: which window it covers and which partitions it splits into.

A run is identified by ``(job, logical time)``: the start of its window (see
:mod:`dailyfetch.window`); for daily jobs that is midnight of the logical date. Every combination of the
``[source.partitions]`` values is one :class:`Partition`, the unit of work that
is claimed, fetched, committed and resumed independently.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from dailyfetch.config import Config
from dailyfetch.errors import ConfigError
from dailyfetch.window import DAY, Window, format_key


@dataclass(frozen=True)
class Partition:
    """One unit of work: the run variables for one combination of partition values."""

    values: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A stable, readable key such as ``region=eu,kind=b`` (``*`` when unpartitioned)."""
        if not self.values:
            return "*"
        return ",".join(f"{name}={value}" for name, value in self.values.items())


@dataclass(frozen=True)
class RunPlan:
    """What one run of a job covers."""

    job: str
    logical_date: date  # the window start's date: ``{date}``
    partitions: tuple[Partition, ...]

    timezone: str = "UTC"
    window: Window = DAY
    logical_time: datetime | None = None  # the window start, local wall time; None: midnight of logical_date

    @property
    def start_wall(self) -> datetime:
        """The window's start as a naive local wall time (the ledger's ``logical_time``)."""
        return self.logical_time or datetime.combine(self.logical_date, time(0))

    @property
    def key(self) -> date:
        """The run's key: the logical date, or for hour windows the start (see :mod:`dailyfetch.window`)."""
        return self.window.key(self.start_wall)

    @property
    def label(self) -> str:
        """The run as logs show it and ``--date`` takes it: ``2026-11-01`` or ``2026-11-01T13:00``."""
        return format_key(self.key)

    def variables(self, partition: Partition) -> dict[str, Any]:
        """The run variables available to ``{...}`` templates for ``partition``.

        ``{date}`` is the window start's date, ``YYYY-MM-DD``. ``{start}`` and ``{end}``
        bound the window in the schedule's time zone (``[start, end)``; a day is 23 or 25
        hours long on DST days); ``{start_utc}`` and ``{end_utc}`` are the same instants
        in UTC. All four take ``strftime`` format specs, e.g. ``{start:%Y-%m-%dT%H:%M:%S}``;
        bare, they print as ISO 8601 with their offset.
        """
        tz = ZoneInfo(self.timezone)
        start, end = (
            _Instant.fromtimestamp(t.timestamp(), tz) for t in self.window.bounds(self.start_wall, tz)
        )
        utc = ZoneInfo("UTC")
        return {
            "date": self.logical_date.isoformat(),
            "start": start,
            "end": end,
            "start_utc": _Instant.fromtimestamp(start.timestamp(), utc),
            "end_utc": _Instant.fromtimestamp(end.timestamp(), utc),
            **partition.values,
        }


class _Instant(datetime):
    """A datetime that formats as ISO 8601 when no format spec is given."""

    def __str__(self) -> str:
        return self.isoformat()

    def __format__(self, spec: str) -> str:
        return self.isoformat() if not spec else super().__format__(spec)


def default_logical_time(config: Config, now: datetime | None = None) -> datetime:
    """The window start a run without ``--date`` fetches (see :func:`~dailyfetch.fire_times.logical_time_of`)."""
    tz = ZoneInfo(config.schedule.timezone)
    from dailyfetch.fire_times import logical_time_of  # the cron parser: not needed when --date is given

    return logical_time_of(now or datetime.now(tz), tz, config.job.logical_date, config.job.run_window)


def default_logical_date(config: Config, now: datetime | None = None) -> date:
    """The date of the window a run without ``--date`` fetches: today or yesterday for daily jobs."""
    return default_logical_time(config, now).date()


def parse_logical_date(text: str) -> date:
    """Parse ``--date YYYY-MM-DD``; raise :class:`ConfigError` naming the option."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date: '{text}' is not a date in YYYY-MM-DD form") from None


def parse_logical_time(config: Config, text: str, option: str = "--date") -> date:
    """Parse ``--date`` for ``config``'s window into a key (a date, or a datetime for hour windows)."""
    window = config.job.run_window
    start = window.parse_option(text, option)
    if not window.exists(start, ZoneInfo(config.schedule.timezone)):
        raise ConfigError(
            f"{option}: {text!r} does not exist in {config.schedule.timezone} (the clocks skip it that day)",
            hint="the window before it runs up to the transition; run that one",
        )
    return window.key(start)


def check_not_ahead(
    config: Config, key: date, *, option: str = "--date", now: datetime | None = None
) -> None:
    """Refuse a window whose data is not all there yet: with ``logical_date = "yesterday"`` one
    that has not ended, with ``"today"`` one that has not begun.

    Run early, it would be recorded as succeeded with part of its data, and its scheduled
    run would then skip it as already done. ``run --early`` skips this check.
    """
    window = config.job.run_window
    tz = ZoneInfo(config.schedule.timezone)
    begin, end = window.bounds(window.start_of(key), tz)
    today_rule = config.job.logical_date == "today"
    limit = begin if today_rule else end
    if (now or datetime.now(UTC)) < limit:  # a scheduled run's fire time is never before it
        what = "begins" if today_rule else "ends"
        raise ConfigError(
            f"{option}: {format_key(key)} is ahead: its window {what} at {limit.isoformat()}"
            f" ({config.schedule.timezone}), so its data is not all there yet",
            hint="run it once the window closes, or pass --early to run it now anyway"
            if option == "--date"
            else "end the range at the last closed window",
        )


def plan_run(config: Config, logical_date: date | None = None) -> RunPlan:
    """Build the :class:`RunPlan` for ``logical_date`` (default: the job's logical time).

    ``logical_date`` is a key: a date (its midnight), or for hour windows a naive
    ``datetime``, the window's start.
    """
    names = list(config.source.partitions)
    combos = itertools.product(*(config.source.partitions[n] for n in names))
    partitions = tuple(
        Partition({name: str(value) for name, value in zip(names, combo, strict=True)}) for combo in combos
    )
    window = config.job.run_window
    start = window.start_of(logical_date) if logical_date is not None else default_logical_time(config)
    return RunPlan(
        job=config.job.name,
        logical_date=start.date(),
        partitions=partitions or (Partition(),),
        timezone=config.schedule.timezone,
        window=window,
        logical_time=start,
    )


def render(template: str, variables: dict[str, Any]) -> str:
    """Fill ``{name}`` run variables into ``template``."""
    return template.format_map(variables)
