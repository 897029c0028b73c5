"""When a schedule fires, and which logical date each fire time runs.

A :class:`FireCalendar` is a parsed ``[schedule]`` expression, its time zone and the
job's ``[job].logical_date`` rule. It answers three questions the local scheduler,
``dailyfetch next``, catch-up and ``runs --missing`` all ask the same way:

* the next fire times after an instant (:meth:`FireCalendar.next_after`, :meth:`~FireCalendar.upcoming`);
* the fire times in a window (:meth:`FireCalendar.between`);
* the window a fire time runs (:func:`logical_time_of`, the one place that mapping lives;
  :func:`logical_date_of` is its daily form).

``rate(...)`` schedules fire at ``anchor + k * interval``. AWS anchors them at the moment
the schedule is created; locally the anchor is the instant the scheduler started (or,
for ``dailyfetch next``, the ``--after`` time). A window that starts before the anchor
extends the same lattice backwards, so catch-up sees the fires a rate schedule would
have had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from dailyfetch.config import Config
from dailyfetch.errors import ConfigError
from dailyfetch.schedule_expression import (
    RateExpression,
    ScheduleExpression,
    parse_schedule_expression,
    parse_timezone,
)
from dailyfetch.window import DAY, Window, format_key

__all__ = [
    "FireCalendar",
    "LogicalDateRule",
    "format_fires",
    "logical_date_of",
    "logical_time_of",
    "parse_date_option",
    "parse_instant",
]

LogicalDateRule = Literal["today", "yesterday"]


def logical_time_of(fire: datetime, tz: ZoneInfo, rule: LogicalDateRule, window: Window = DAY) -> datetime:
    """The logical time (window start, naive local wall time) a run started at ``fire`` covers.

    ``"today"``: the window that contains ``fire`` (in the schedule's zone ``tz``).
    ``"yesterday"`` (the default): the last complete window before ``fire``, i.e. the
    one before the window containing it. For daily jobs that is the fire's local date
    or the day before it (a job that fires at 02:30 fetches the day that just ended);
    for ``"1h"`` windows the current or the previous hour; for ``"7d"`` the current or
    the previous ISO week. A window that lies wholly inside a DST gap is passed over.
    This is the same rule ``dailyfetch run`` applies without ``--date``.
    """
    current = window.containing(fire, tz)
    return current if rule == "today" else window.previous(current, tz)


def logical_date_of(fire: datetime, tz: ZoneInfo, rule: LogicalDateRule) -> date:
    """The logical date a daily run started at ``fire`` covers (:func:`logical_time_of` for ``"1d"``)."""
    return logical_time_of(fire, tz, rule).date()


def parse_instant(text: str, tz: ZoneInfo, *, option: str = "--after") -> datetime:
    """An ISO 8601 time; one without a UTC offset is read in ``tz``. ConfigError names ``option``."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{option}: {text!r} is not an ISO 8601 time",
            hint="e.g. 2026-11-30T02:00:00+01:00, or 2026-11-30T02:00 in the schedule's time zone",
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def parse_date_option(text: str, option: str) -> date:
    """``YYYY-MM-DD`` for ``option``; ConfigError names the option."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a date in YYYY-MM-DD form") from None


@dataclass(frozen=True)
class FireCalendar:
    """A schedule expression in its time zone, with the job's logical-date rule."""

    expression: ScheduleExpression
    tz: ZoneInfo
    rule: LogicalDateRule = "yesterday"
    anchor: datetime | None = None
    window: Window = DAY

    @classmethod
    def parse(
        cls,
        expression: str,
        timezone: str = "UTC",
        rule: LogicalDateRule = "yesterday",
        window: Window = DAY,
    ) -> FireCalendar:
        """Parse ``expression`` and ``timezone``; ScheduleExpressionError names the bad field."""
        return cls(parse_schedule_expression(expression), parse_timezone(timezone), rule, window=window)

    @classmethod
    def from_config(cls, config: Config) -> FireCalendar:
        """The calendar of ``config``'s ``[schedule]``, ``[job].logical_date`` and ``[job].window``."""
        return cls.parse(
            config.schedule.expression,
            config.schedule.timezone,
            config.job.logical_date,
            config.job.run_window,
        )

    @property
    def timezone(self) -> str:
        """The IANA name of the schedule's zone."""
        return self.tz.key

    def anchored(self, anchor: datetime) -> FireCalendar:
        """This calendar with ``rate()`` fire times anchored at ``anchor``."""
        return replace(self, anchor=anchor)

    def describe(self) -> str:
        """The expression in plain English, with its zone: 'at 02:30 every day (UTC)'."""
        return f"{self.expression.describe()} ({self.timezone})"

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after``, in the schedule's zone; None if none."""
        return self.expression.next_after(after, self.tz, anchor=self._anchor_before(after))

    def upcoming(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` fire times after ``after`` (fewer when the schedule ends)."""
        fires: list[datetime] = []
        anchor = self._anchor_before(after) or after
        current: datetime | None = after
        while len(fires) < count:
            assert current is not None
            current = self.expression.next_after(current, self.tz, anchor=anchor)
            if current is None:
                break
            fires.append(current)
        return fires

    def between(self, start: datetime, end: datetime) -> list[datetime]:
        """Fire times in ``[start, end)``, in the schedule's zone."""
        return self.expression.between(start, end, self.tz, anchor=self._anchor_before(start))

    def logical_time(self, fire: datetime) -> datetime:
        """The window start the fire at ``fire`` runs (see :func:`logical_time_of`)."""
        return logical_time_of(fire, self.tz, self.rule, self.window)

    def logical_date(self, fire: datetime) -> date:
        """The date of the window the fire at ``fire`` runs."""
        return self.logical_time(fire).date()

    def logical_key(self, fire: datetime) -> date:
        """The key of the window the fire at ``fire`` runs: a date, or for hour windows its start."""
        return self.window.key(self.logical_time(fire))

    def scheduled_dates(self, start: datetime, end: datetime) -> list[date]:
        """The distinct logical dates of the fire times in ``[start, end)``, oldest first."""
        return sorted({self.logical_date(fire) for fire in self.between(start, end)})

    def scheduled_keys(self, start: datetime, end: datetime) -> list[date]:
        """The distinct window keys of the fire times in ``[start, end)``, oldest first."""
        return sorted({self.logical_key(fire) for fire in self.between(start, end)})

    def day_start(self, day: date) -> datetime:
        """Midnight at the start of ``day`` in the schedule's zone."""
        return datetime.combine(day, datetime.min.time(), tzinfo=self.tz)

    def _anchor_before(self, start: datetime) -> datetime | None:
        """The rate anchor moved back by whole intervals so that it is not after ``start``."""
        anchor = self.anchor
        if anchor is None or not isinstance(self.expression, RateExpression) or anchor <= start:
            return anchor
        interval = self.expression.interval
        steps = math.ceil((anchor - start) / interval)
        return anchor.astimezone(UTC) - steps * interval


def format_fires(
    calendar: FireCalendar,
    after: datetime | None,
    count: int,
    *,
    as_json: bool = False,
    with_dates: bool = True,
) -> str:
    """``dailyfetch next``'s output: the next ``count`` fire times after ``after`` (default: now).

    JSON is an array of ISO 8601 times with their UTC offset. Text starts with the
    expression in words, then one fire time a line, with the logical date it runs when
    ``with_dates``.
    """
    start = after or datetime.now(UTC)
    fires = calendar.upcoming(start, count)
    if as_json:
        import orjson

        return orjson.dumps([fire.isoformat() for fire in fires]).decode() + "\n"
    lines = [f"{calendar.expression.text}: {calendar.describe()}"]
    for fire in fires:
        line = f"{fire.isoformat()}  {fire:%a}"
        fetches = format_key(calendar.logical_key(fire))
        lines.append(f"{line}  fetches {fetches}" if with_dates else line)
    if len(fires) < count:
        lines.append(f"(no more fire times after {fires[-1].isoformat() if fires else start.isoformat()})")
    return "\n".join(lines) + "\n"
