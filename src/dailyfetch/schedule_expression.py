"""AWS EventBridge Scheduler expressions: parse them, and compute their fire times in a time zone.

Three kinds, exactly as EventBridge Scheduler accepts them:

``cron(minute hour day-of-month month day-of-week year)``
    Minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week
    1-7 or SUN-SAT (1 = SUN, 7 = SAT), year 1970-2199. Names are case-insensitive.
    Every field takes ``*``, lists ``a,b``, ranges ``a-b`` and steps ``*/5``, ``10/15``
    (10, 25, 40, 55) and ``1-30/2``. Exactly one of the two day fields is ``?``.
    Day-of-month also takes ``L`` (last day), ``LW`` (last weekday) and ``15W`` (the
    Monday-Friday nearest the 15th, never crossing into another month; a day the month
    lacks, such as ``31W`` in April, does not fire). Day-of-week also takes ``L`` alone
    (the last day of the week, i.e. SAT, every week), ``5L`` (last Thursday of the month)
    and ``6#3`` (third Friday; week 1-5, and a month without a fifth one does not fire).
    A day-of-month the month lacks (``31`` in April, ``30 FEB``) does not fire.
``rate(N unit)``
    unit is ``minute``/``hour``/``day`` when N is 1 and ``minutes``/``hours``/``days``
    otherwise, N >= 1. Fire times are ``anchor + k * interval`` for k >= 0 in absolute
    time, so DST never shifts them (a day is 24 hours). The anchor is the schedule's start
    date; without one AWS starts "immediately", so ``anchor`` defaults to ``after`` in
    :meth:`ScheduleExpression.next_after` and to ``start`` in :meth:`ScheduleExpression.between`.
``at(yyyy-mm-ddThh:mm:ss)``
    One fire, at that wall-clock time in the schedule's time zone.

Time zones and DST follow AWS's documented rules. A wall-clock time that does not exist
(the spring-forward gap) is skipped: no fire for it that day. A wall-clock time that occurs
twice (fall back) fires once, at its first occurrence. So ``cron(0 * * * ? *)`` in New York
fires 23 times on 2026-03-08 and 24 times on 2026-11-01, the second 01:00 being skipped;
``at()`` inside a gap never fires.

Decisions where AWS documents nothing, chosen to reject rather than guess, since every
rejected form has an accepted equivalent:

* Wrap-around ranges (``FRI-MON``, ``22-2``) are rejected; write ``FRI-SAT,SUN-MON``.
* ``L-3`` (offset from the last day) is rejected; AWS documents only ``L``, ``LW``, ``nW``.
* ``L``, ``LW``, ``nW``, ``nL`` and ``n#k`` stand alone in their field (AWS documents
  ``3#1,6#3`` as invalid; we apply the same to the other special forms).
* A step larger than its field's span (``0/61`` minutes) is rejected, as in Quartz.

Evaluation walks the allowed years, months, matching days, hours and minutes in order,
so ``next_after`` costs microseconds and a schedule that can never fire again
(``cron(0 0 30 FEB ? *)``, a past year) returns None after at most 230 years x 12 months.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dailyfetch._cron_fields import (
    CronFields,
    FieldError,
    days_in_month,
    describe_fields,
    parse_cron_fields,
)
from dailyfetch.errors import ConfigError

__all__ = [
    "AtExpression",
    "CronExpression",
    "RateExpression",
    "ScheduleExpression",
    "ScheduleExpressionError",
    "parse_schedule_expression",
    "parse_timezone",
]

_RATE = re.compile(r"rate\(([0-9]+) ([a-z]+)\)")
_AT = re.compile(r"at\(([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\)")
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_ONE_MICROSECOND = timedelta(microseconds=1)
# Files in a zoneinfo directory that load but are not IANA zone names.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_NOT_ZONE_PREFIXES = ("/", ".", "posix/", "right/")


class ScheduleExpressionError(ConfigError):
    """A schedule expression or time zone that EventBridge Scheduler would reject."""

    def __init__(self, message: str, *, field: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


def parse_timezone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or ScheduleExpressionError naming it."""
    try:
        if name and name not in _NOT_ZONES and not name.startswith(_NOT_ZONE_PREFIXES):
            return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    raise ScheduleExpressionError(
        f"timezone: {name!r} is not an IANA time zone",
        field="timezone",
        hint="use a name such as UTC, Europe/London or America/New_York",
    )


@dataclass(frozen=True)
class ScheduleExpression:
    """A parsed schedule expression; `text` is the expression as written."""

    text: str

    def next_after(self, after: datetime, tz: ZoneInfo, *, anchor: datetime | None = None) -> datetime | None:
        """The first fire time strictly after `after`, in `tz`; None when there is none."""
        raise NotImplementedError

    def iter_after(
        self, after: datetime, tz: ZoneInfo, *, anchor: datetime | None = None
    ) -> Iterator[datetime]:
        """Fire times strictly after `after`, in order, in `tz`."""
        anchor = _aware(after, "after") if anchor is None else anchor
        current: datetime | None = after
        while current is not None:
            current = self.next_after(current, tz, anchor=anchor)
            if current is not None:
                yield current

    def between(
        self, start: datetime, end: datetime, tz: ZoneInfo, *, anchor: datetime | None = None
    ) -> list[datetime]:
        """Fire times in [start, end), in `tz`."""
        # In UTC: subtracting from a wall time in its fold=1 hour would land an hour early.
        start_utc = _aware(start, "start").astimezone(UTC)
        end_utc = _aware(end, "end").astimezone(UTC)
        anchor = start_utc if anchor is None else anchor
        fires: list[datetime] = []
        for fire in self.iter_after(start_utc - _ONE_MICROSECOND, tz, anchor=anchor):
            if fire >= end_utc:
                break
            fires.append(fire)
        return fires

    def describe(self) -> str:
        """Plain English, such as 'at 02:30 every day' or 'every 15 minutes'."""
        raise NotImplementedError


@dataclass(frozen=True)
class CronExpression(ScheduleExpression):
    """`cron(...)`: wall-clock times in the schedule's time zone."""

    fields: CronFields

    def next_after(self, after: datetime, tz: ZoneInfo, *, anchor: datetime | None = None) -> datetime | None:
        """The first fire time strictly after `after`, in `tz`; None when there is none."""
        after_utc = _aware(after, "after").astimezone(UTC)
        for wall in self._walls_from(after_utc.astimezone(tz).replace(tzinfo=None)):
            instant = _resolve_wall(wall, tz)
            if instant is not None and instant > after_utc:
                return instant.astimezone(tz)
        return None

    def describe(self) -> str:
        """Plain English, such as 'at 10:15 on the last Friday of the month'."""
        return describe_fields(self.fields)

    def _walls_from(self, start: datetime) -> Iterator[datetime]:
        """Matching wall-clock minutes from `start`'s minute on, ascending."""
        f = self.fields
        start_day = (start.year, start.month, start.day)
        for year in f.years[bisect_left(f.years, start.year) :]:
            months = f.months[bisect_left(f.months, start.month) :] if year == start.year else f.months
            for month in months:
                for day in days_in_month(f.day_rule, year, month):
                    if (year, month, day) < start_day:
                        continue
                    hours = f.hours
                    if (year, month, day) == start_day:
                        hours = hours[bisect_left(hours, start.hour) :]
                    for hour in hours:
                        minutes = f.minutes
                        if (year, month, day, hour) == (*start_day, start.hour):
                            minutes = minutes[bisect_left(minutes, start.minute) :]
                        for minute in minutes:
                            yield datetime(year, month, day, hour, minute)


@dataclass(frozen=True)
class RateExpression(ScheduleExpression):
    """`rate(N unit)`: a fixed interval in absolute time from an anchor."""

    interval: timedelta

    def next_after(self, after: datetime, tz: ZoneInfo, *, anchor: datetime | None = None) -> datetime | None:
        """The first `anchor + k * interval` (k >= 0) strictly after `after`, in `tz`."""
        # In UTC: same-zone datetime arithmetic would ignore the UTC offset (PEP 495).
        after = _aware(after, "after").astimezone(UTC)
        anchor = after if anchor is None else _aware(anchor, "anchor").astimezone(UTC)
        if anchor > after:
            return anchor.astimezone(tz)
        steps = (after - anchor) // self.interval + 1
        try:
            return (anchor + steps * self.interval).astimezone(tz)
        except OverflowError:
            return None

    def describe(self) -> str:
        """Plain English, such as 'every 15 minutes'."""
        return "every " + self.text[len("rate(") : -1].removeprefix("1 ")


@dataclass(frozen=True)
class AtExpression(ScheduleExpression):
    """`at(yyyy-mm-ddThh:mm:ss)`: one wall-clock time in the schedule's time zone."""

    wall: datetime

    def next_after(self, after: datetime, tz: ZoneInfo, *, anchor: datetime | None = None) -> datetime | None:
        """The one fire time if it is strictly after `after` and exists in `tz`, else None."""
        instant = _resolve_wall(self.wall, tz)
        if instant is None or instant <= _aware(after, "after").astimezone(UTC):
            return None
        return instant.astimezone(tz)

    def describe(self) -> str:
        """Plain English, such as 'once at 2026-03-01 10:00:00'."""
        return f"once at {self.wall:%Y-%m-%d %H:%M:%S}"


def parse_schedule_expression(text: str) -> ScheduleExpression:
    """Parse `cron(...)`, `rate(...)` or `at(...)`; raise ScheduleExpressionError if invalid."""
    if text.startswith("cron(") and text.endswith(")"):
        try:
            return CronExpression(text, parse_cron_fields(text[len("cron(") : -1]))
        except FieldError as exc:
            raise ScheduleExpressionError(
                f"{exc.message} in {text!r}", field=exc.field, hint=exc.hint
            ) from exc
    if text.startswith("rate("):
        return _parse_rate(text)
    if text.startswith("at("):
        return _parse_at(text)
    raise ScheduleExpressionError(
        f"schedule expression: {text!r} is not cron(...), rate(...) or at(...)",
        field="schedule expression",
        hint="e.g. cron(0 2 * * ? *), rate(15 minutes) or at(2026-03-01T10:00:00)",
    )


def _parse_rate(text: str) -> RateExpression:
    match = _RATE.fullmatch(text)
    unit = match.group(2) if match else ""
    if match is None or unit.removesuffix("s") not in _RATE_UNITS:
        raise ScheduleExpressionError(
            f"rate: {text!r} is not rate(value unit)",
            field="rate",
            hint="e.g. rate(1 hour) or rate(15 minutes); units are minutes, hours, days",
        )
    value = int(match.group(1))
    if value < 1:
        raise ScheduleExpressionError(
            f"rate: the value must be 1 or more, got {value} in {text!r}", field="rate"
        )
    singular = unit.removesuffix("s")
    if (value == 1) != (unit == singular):
        wanted = singular if value == 1 else singular + "s"
        raise ScheduleExpressionError(
            f"rate: {value} takes the unit {wanted!r}, not {unit!r}, in {text!r}",
            field="rate",
            hint="AWS wants the singular unit for 1 and the plural otherwise",
        )
    try:
        interval = timedelta(seconds=value * _RATE_UNITS[singular])
    except OverflowError:
        raise ScheduleExpressionError(
            f"rate: {value} {unit} is too long an interval in {text!r}", field="rate"
        ) from None
    return RateExpression(text, interval)


def _parse_at(text: str) -> AtExpression:
    match = _AT.fullmatch(text)
    try:
        if match is None:
            raise ValueError("bad shape")
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        wall = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise ScheduleExpressionError(
            f"at: {text!r} is not at(yyyy-mm-ddThh:mm:ss) with a real date and time",
            field="at",
            hint="e.g. at(2026-03-01T10:00:00), in the schedule's time zone",
        ) from None
    return AtExpression(text, wall)


def _aware(value: datetime, name: str) -> datetime:
    """`value` itself, after checking that it carries a time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def _resolve_wall(wall: datetime, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time in `tz`: the first if repeated, None if skipped."""
    instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != wall:
        return None  # the wall time falls in a spring-forward gap
    return instant
