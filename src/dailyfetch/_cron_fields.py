"""The six fields of an AWS ``cron()`` expression: parsing, calendar rules, English.

Private to :mod:`dailyfetch.schedule_expression`, which documents the semantics.
This module knows nothing about time zones: it turns field text into sets of
values and a day rule, and answers "which days of this month match?".
Problems are raised as :class:`FieldError`, which the public module turns into
a ``ScheduleExpressionError``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # AWS numbers them 1-7
_WEEKDAY_WORDS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_ORDINALS = ("first", "second", "third", "fourth", "fifth")

_NUMBER = re.compile(r"[0-9]+")
_NAME = re.compile(r"[A-Z]+")


class FieldError(ValueError):
    """A field of a cron() expression that AWS would reject; `field` names it."""

    def __init__(self, field: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class _Spec:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i
    kind: str = "number"


_MINUTE = _Spec("minute", 0, 59)
_HOUR = _Spec("hour", 0, 23)
_DOM = _Spec("day-of-month", 1, 31)
_MONTH = _Spec("month", 1, 12, MONTH_NAMES, "month name")
_DOW = _Spec("day-of-week", 1, 7, WEEKDAY_NAMES, "weekday name")
_YEAR = _Spec("year", 1970, 2199)


def aws_weekday(year: int, month: int, day: int) -> int:
    """AWS weekday number of a date: 1 = SUN ... 7 = SAT."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


# --- day rules: which days of a given month fire ------------------------------------


@dataclass(frozen=True)
class DaysOfMonth:
    """Day-of-month numbers (`*`, lists, ranges, steps); days past the month's end never fire."""

    days: frozenset[int]

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """Matching days of the month, ascending."""
        last = calendar.monthrange(year, month)[1]
        return tuple(sorted(d for d in self.days if d <= last))


@dataclass(frozen=True)
class LastDayOfMonth:
    """`L` in day-of-month, or `LW` (last weekday) when `weekday_only`."""

    weekday_only: bool

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """Matching days of the month, ascending."""
        last = calendar.monthrange(year, month)[1]
        if self.weekday_only:
            last -= {7: 1, 1: 2}.get(aws_weekday(year, month, last), 0)
        return (last,)


@dataclass(frozen=True)
class NearestWeekday:
    """`15W`: the Monday-Friday nearest the day, never crossing into another month."""

    day: int

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """Matching days of the month, ascending."""
        last = calendar.monthrange(year, month)[1]
        if self.day > last:
            return ()
        weekday = aws_weekday(year, month, self.day)
        if weekday == 7:  # Saturday: the Friday before, or Monday the 3rd for the 1st
            return (self.day - 1,) if self.day > 1 else (self.day + 2,)
        if weekday == 1:  # Sunday: the Monday after, or the Friday before on the last day
            return (self.day + 1,) if self.day < last else (self.day - 2,)
        return (self.day,)


@dataclass(frozen=True)
class DaysOfWeek:
    """Weekday numbers 1 = SUN ... 7 = SAT (`L` alone is 7)."""

    weekdays: frozenset[int]

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """Matching days of the month, ascending."""
        first = aws_weekday(year, month, 1)
        last = calendar.monthrange(year, month)[1]
        return tuple(d for d in range(1, last + 1) if (first + d - 2) % 7 + 1 in self.weekdays)


@dataclass(frozen=True)
class NthWeekday:
    """`6#3` (third Friday) when `nth` is 1-5; `5L` (last Thursday) when `nth` is 0."""

    weekday: int
    nth: int

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """Matching days of the month, ascending."""
        last = calendar.monthrange(year, month)[1]
        if self.nth == 0:
            return (last - (aws_weekday(year, month, last) - self.weekday) % 7,)
        day = 1 + (self.weekday - aws_weekday(year, month, 1)) % 7 + 7 * (self.nth - 1)
        return (day,) if day <= last else ()


DayRule = DaysOfMonth | LastDayOfMonth | NearestWeekday | DaysOfWeek | NthWeekday


@dataclass(frozen=True)
class CronFields:
    """A parsed cron(): sorted minutes, hours, months and years, and one day rule."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_rule: DayRule
    months: tuple[int, ...]
    years: tuple[int, ...]


@lru_cache(maxsize=4096)
def days_in_month(rule: DayRule, year: int, month: int) -> tuple[int, ...]:
    """The days of `month` on which `rule` fires (cached: the calendar never changes)."""
    return rule.days_in(year, month)


# --- parsing ---------------------------------------------------------------------------


def parse_cron_fields(body: str) -> CronFields:
    """Parse the text between `cron(` and `)`; raise FieldError naming the bad field."""
    parts = body.split()
    if len(parts) != 6:
        raise FieldError(
            "cron()",
            f"cron() takes 6 fields, got {len(parts)}",
            "write minute hour day-of-month month day-of-week year, e.g. cron(0 2 * * ? *)",
        )
    minute, hour, dom, month, dow, year = (p.upper() for p in parts)
    minutes, hours = _parse_set(minute, _MINUTE), _parse_set(hour, _HOUR)
    if (dom == "?") == (dow == "?"):
        raise FieldError(
            "day-of-month and day-of-week",
            "day-of-month and day-of-week: one must be '?'",
            "put ? in the day field you do not use, e.g. cron(0 2 * * ? *) or cron(0 2 ? * MON *)",
        )
    day_rule = _parse_day_of_week(dow) if dom == "?" else _parse_day_of_month(dom)
    return CronFields(
        minutes=minutes,
        hours=hours,
        day_rule=day_rule,
        months=_parse_set(month, _MONTH),
        years=_parse_set(year, _YEAR),
    )


def _parse_day_of_month(text: str) -> DayRule:
    if text in ("L", "LW"):
        return LastDayOfMonth(weekday_only=text == "LW")
    if text.startswith("L-"):
        raise FieldError(
            _DOM.name,
            f"day-of-month: {text!r} (an offset from the last day) is not supported by AWS",
            "use L for the last day of the month or LW for its last weekday",
        )
    if "W" in text or "L" in text:
        match = re.fullmatch(r"([0-9]+)W", text)
        if match is None or "," in text:
            raise FieldError(
                _DOM.name,
                f"day-of-month: {text!r}: L and W stand alone ('L', 'LW', '15W'), "
                "not in lists, ranges or steps",
                "use one value such as L, LW or 15W",
            )
        return NearestWeekday(_parse_value(match.group(1), _DOM))
    return DaysOfMonth(frozenset(_parse_set(text, _DOM)))


def _parse_day_of_week(text: str) -> DayRule:
    if text == "L":
        return DaysOfWeek(frozenset({7}))
    if "#" in text:
        match = re.fullmatch(r"([0-9A-Z]+)#([0-9]+)", text)
        if match is None:
            raise FieldError(
                _DOW.name,
                f"day-of-week: {text!r}: '#' takes one weekday and one week number, as in 6#3, "
                "and stands alone (AWS rejects lists such as 3#1,6#3)",
                "use a single n#k expression",
            )
        nth = int(match.group(2))
        if not 1 <= nth <= 5:
            raise FieldError(_DOW.name, f"day-of-week: week number {nth} in {text!r} is out of range 1-5")
        return NthWeekday(_parse_value(match.group(1), _DOW), nth)
    if "L" in text:
        match = re.fullmatch(r"([0-9]+|[A-Z]{3})L", text)
        if match is None:
            raise FieldError(
                _DOW.name,
                f"day-of-week: {text!r}: L stands alone ('L' or '5L' for the last Thursday), "
                "not in lists, ranges or steps",
                "use L for Saturday or nL for the last weekday n of the month",
            )
        return NthWeekday(_parse_value(match.group(1), _DOW), 0)
    return DaysOfWeek(frozenset(_parse_set(text, _DOW)))


def _parse_set(text: str, spec: _Spec) -> tuple[int, ...]:
    values: set[int] = set()
    for item in text.split(","):
        values.update(_parse_item(item, text, spec))
    return tuple(sorted(values))


def _parse_item(item: str, text: str, spec: _Spec) -> range:
    if item == "":
        raise FieldError(spec.name, f"{spec.name}: empty value in {text!r}")
    if item == "?":
        raise FieldError(
            spec.name,
            f"{spec.name}: '?' is allowed only as the whole day-of-month or day-of-week field",
        )
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not _NUMBER.fullmatch(step_text):
            raise FieldError(spec.name, f"{spec.name}: step {step_text!r} is not a number")
        step = int(step_text)
        span = spec.high - spec.low + 1
        if step < 1:
            raise FieldError(spec.name, f"{spec.name}: step must be positive, got {step}")
        if step > span:
            raise FieldError(
                spec.name,
                f"{spec.name}: step {step} is larger than the range {spec.low}-{spec.high}",
            )
    if base == "*":
        return range(spec.low, spec.high + 1, step)
    first_text, dash, last_text = base.partition("-")
    first = _parse_value(first_text, spec)
    if not dash:
        return range(first, (spec.high if slash else first) + 1, step)
    last = _parse_value(last_text, spec)
    if last < first:
        raise FieldError(
            spec.name,
            f"{spec.name}: range {base} runs backwards; AWS ranges do not wrap around",
            f"split it in two: {first}-{spec.high},{spec.low}-{last}",
        )
    return range(first, last + 1, step)


def _parse_value(text: str, spec: _Spec) -> int:
    if _NUMBER.fullmatch(text):
        value = int(text)
        if not spec.low <= value <= spec.high:
            raise FieldError(spec.name, f"{spec.name}: {value} is out of range {spec.low}-{spec.high}")
        return value
    if spec.names and _NAME.fullmatch(text):
        if text in spec.names:
            return spec.low + spec.names.index(text)
        raise FieldError(
            spec.name,
            f"{spec.name}: {text!r} is not a {spec.kind}",
            f"use {spec.names[0]}-{spec.names[-1]} or {spec.low}-{spec.high}",
        )
    if text == "":
        raise FieldError(spec.name, f"{spec.name}: a range or step is missing a value")
    raise FieldError(spec.name, f"{spec.name}: {text!r} is not a {spec.kind}")


# --- plain English ---------------------------------------------------------------------


def describe_fields(fields: CronFields) -> str:
    """Plain English for a parsed cron(), e.g. 'at 10:15 on the last Friday of the month'."""
    time = _describe_time(fields.minutes, fields.hours)
    day = _describe_day(fields.day_rule)
    if day == "every day" and "every" in time:
        day = ""
    parts = [time, day]
    if len(fields.months) < 12:
        parts.append("in " + _join_runs(fields.months, lambda m: calendar.month_name[m]))
    if len(fields.years) < _YEAR.high - _YEAR.low + 1:
        parts.append("in " + _join_runs(fields.years, str))
    return " ".join(p for p in parts if p)


def _describe_time(minutes: tuple[int, ...], hours: tuple[int, ...]) -> str:
    if len(minutes) == 1 and len(hours) <= 4:
        return "at " + _join([f"{h:02d}:{minutes[0]:02d}" for h in hours])
    step = _step_of(minutes, 60)
    if len(minutes) == 60:
        text = "every minute"
    elif step:
        text = f"every {step} minutes" + (f" from minute {minutes[0]}" if minutes[0] else "")
    else:
        label = "minute" if len(minutes) == 1 else "minutes"
        text = f"at {label} " + _join([str(m) for m in minutes])
    if len(hours) == 24:
        return text if text.startswith("every") else text + " of every hour"
    label = "hour" if len(hours) == 1 else "hours"
    return f"{text} during {label} " + _join_runs(hours, lambda h: f"{h:02d}")


def _describe_day(rule: DayRule) -> str:
    if isinstance(rule, DaysOfMonth):
        if len(rule.days) == 31:
            return "every day"
        label = "day" if len(rule.days) == 1 else "days"
        return f"on {label} " + _join_runs(tuple(sorted(rule.days)), str) + " of the month"
    if isinstance(rule, LastDayOfMonth):
        return "on the last weekday of the month" if rule.weekday_only else ("on the last day of the month")
    if isinstance(rule, NearestWeekday):
        return f"on the weekday nearest day {rule.day} of the month"
    if isinstance(rule, DaysOfWeek):
        if len(rule.weekdays) == 7:
            return "every day"
        return "on " + _join_runs(tuple(sorted(rule.weekdays)), lambda d: _WEEKDAY_WORDS[d - 1])
    ordinal = "last" if rule.nth == 0 else _ORDINALS[rule.nth - 1]
    return f"on the {ordinal} {_WEEKDAY_WORDS[rule.weekday - 1]} of the month"


def _step_of(values: tuple[int, ...], size: int) -> int:
    """The step when `values` is start, start+step, ... to the end (start < step), else 0."""
    if len(values) < 2:
        return 0
    step = values[1] - values[0]
    if values[0] < step and values == tuple(range(values[0], size, step)):
        return step
    return 0


def _join_runs(values: tuple[int, ...], word: Callable[[int], str]) -> str:
    """'Monday to Friday', '1, 15 and 20', or '00 to 22 in steps of 2' for a stepped set."""
    step = values[1] - values[0] if len(values) >= 5 else 0
    if step > 1 and values == tuple(range(values[0], values[-1] + 1, step)):
        return f"{word(values[0])} to {word(values[-1])} in steps of {step}"
    items: list[str] = []
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and values[end + 1] == values[end] + 1:
            end += 1
        if end - start >= 2:
            items.append(f"{word(values[start])} to {word(values[end])}")
        else:
            items.extend(word(v) for v in values[start : end + 1])
        start = end + 1
    return _join(items)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
