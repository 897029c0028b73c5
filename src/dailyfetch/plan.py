"""Plan a run: which logical date it covers and which partitions it splits into.

A run is identified by ``(job, logical_date)``. Every combination of the
``[source.partitions]`` values is one :class:`Partition`, the unit of work that
is claimed, fetched, committed and resumed independently.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dailyfetch.config import Config
from dailyfetch.errors import ConfigError
from dailyfetch.fire_times import logical_date_of


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
    logical_date: date
    partitions: tuple[Partition, ...]

    timezone: str = "UTC"

    def variables(self, partition: Partition) -> dict[str, Any]:
        """The run variables available to ``{...}`` templates for ``partition``.

        ``{date}`` is ``YYYY-MM-DD``. ``{start}`` and ``{end}`` bound the day in the
        schedule's time zone (``[start, end)``, 23 or 25 hours long on DST days);
        ``{start_utc}`` and ``{end_utc}`` are the same instants in UTC. All four take
        ``strftime`` format specs, e.g. ``{start:%Y-%m-%dT%H:%M:%S}``; bare, they print
        as ISO 8601 with their offset.
        """
        tz = ZoneInfo(self.timezone)
        start = _Instant.combine(self.logical_date, time(0), tzinfo=tz)
        end = _Instant.combine(self.logical_date + timedelta(days=1), time(0), tzinfo=tz)
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


def default_logical_date(config: Config, now: datetime | None = None) -> date:
    """The date a run without ``--date`` fetches: today or yesterday in the schedule's zone."""
    tz = ZoneInfo(config.schedule.timezone)
    return logical_date_of(now or datetime.now(tz), tz, config.job.logical_date)


def parse_logical_date(text: str) -> date:
    """Parse ``--date YYYY-MM-DD``; raise :class:`ConfigError` naming the option."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date: '{text}' is not a date in YYYY-MM-DD form") from None


def plan_run(config: Config, logical_date: date | None = None) -> RunPlan:
    """Build the :class:`RunPlan` for ``logical_date`` (default: the job's logical date)."""
    names = list(config.source.partitions)
    combos = itertools.product(*(config.source.partitions[n] for n in names))
    partitions = tuple(
        Partition({name: str(value) for name, value in zip(names, combo, strict=True)}) for combo in combos
    )
    return RunPlan(
        job=config.job.name,
        logical_date=logical_date or default_logical_date(config),
        partitions=partitions or (Partition(),),
        timezone=config.schedule.timezone,
    )


def render(template: str, variables: dict[str, Any]) -> str:
    """Fill ``{name}`` run variables into ``template``."""
    return template.format_map(variables)
