"""Run windows: ``[job] window`` and the wall-clock arithmetic of a run's ``[start, end)``.

A window is a span of **wall-clock time** in the schedule's zone: one day (``"1d"``),
``N`` hours where ``N`` divides 24 (``"1h"``, ``"6h"``...), or one ISO week from Monday
00:00 (``"7d"``). Windows sit on a fixed grid (midnight, the hours divisible by ``N``,
Mondays) and are named by their start's local wall time, the *logical time*: a naive
:class:`~datetime.datetime`.

Boundaries become instants by these rules, so consecutive windows always meet and every
instant belongs to exactly one window:

* a wall time that occurs twice (the fall-back hour) means its **first** occurrence;
* a wall time that does not exist (the spring-forward gap) means the first instant
  after the gap (the transition itself).

So a day is 23 or 25 hours long on DST days; on the fall-back day the hour window
starting at the repeated hour (01:00 in New York) covers both occurrences (2 hours);
on the spring-forward day the window that lies wholly inside the gap (02:00 in New
York) covers no instant and does not exist: it is never scheduled, listed as missing
or backfilled.

The *key* of a window, used in ledgers, queues and sets, is a :class:`~datetime.date`
for day and week windows and the naive start :class:`~datetime.datetime` for hour
windows (``datetime`` is a subclass of ``date``; one calendar never mixes the two).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dailyfetch.errors import ConfigError

__all__ = ["DAY", "Window", "format_key", "wall_to_instant"]

_TEXT = re.compile(r"^\s*(\d{1,3})\s*([hd])\s*$")
_HOURS_DIVIDING_A_DAY = (1, 2, 3, 4, 6, 8, 12)
_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2}))?)?)?$")
_MAX_SKIP = 400  # windows to step over when looking for one that exists (a skipped day is 24 hours)


def wall_to_instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant (aware, in ``tz``) a naive local wall time stands for, by the module's rules."""
    aware = wall.replace(tzinfo=tz, fold=0)  # fold=0: the first of a repeated time
    utc = aware.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == wall:
        return utc.astimezone(tz)
    # In a gap: the first instant whose local time is past ``wall`` is the transition.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)  # read with the later offset: before the gap
    high = utc if utc > low else low + timedelta(days=2)
    span = int((high - low).total_seconds())
    lo, hi = 0, span  # local(low + lo) <= wall < local(low + hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (low + timedelta(seconds=mid)).astimezone(tz).replace(tzinfo=None) > wall:
            hi = mid
        else:
            lo = mid
    return (low + timedelta(seconds=hi)).astimezone(tz)


def format_key(key: date) -> str:
    """A window key as ``--date`` takes it: ``YYYY-MM-DD``, or ``YYYY-MM-DDTHH:MM`` for hour windows."""
    if isinstance(key, datetime):
        return key.strftime("%Y-%m-%dT%H:%M")
    return key.isoformat()


@dataclass(frozen=True)
class Window:
    """A window length on the wall-clock grid; see the module docstring."""

    hours: int = 24  # 1..12 dividing 24, 24 (a day) or 168 (an ISO week)

    @classmethod
    def parse(cls, text: str) -> Window:
        """``"1d"``, ``"7d"`` or ``"Nh"`` (N divides 24); ValueError says what is accepted."""
        match = _TEXT.match(text)
        if match:
            count, unit = int(match[1]), match[2]
            if unit == "d" and count in (1, 7):
                return cls(24 * count)
            if unit == "h" and count in _HOURS_DIVIDING_A_DAY:
                return cls(count)
            if unit == "h" and count == 24:
                return cls(24)
        raise ValueError(
            f"must be '1d', '7d' or 'Nh' with N dividing 24 (1h, 2h, 3h, 4h, 6h, 8h, 12h), got {text!r}"
        )

    @property
    def text(self) -> str:
        """The setting as written: ``1d``, ``7d`` or ``6h``."""
        return f"{self.hours // 24}d" if self.hours >= 24 else f"{self.hours}h"

    @property
    def sub_day(self) -> bool:
        """True for hour windows, whose logical time has hour precision."""
        return self.hours < 24

    @property
    def weekly(self) -> bool:
        """True for ``7d``: ISO weeks from Monday 00:00."""
        return self.hours == 168

    def floor(self, wall: datetime) -> datetime:
        """The start of the grid window containing the naive wall time ``wall``."""
        if self.sub_day:
            return wall.replace(hour=wall.hour - wall.hour % self.hours, minute=0, second=0, microsecond=0)
        day = wall.date()
        if self.weekly:
            day -= timedelta(days=day.weekday())
        return datetime.combine(day, time(0))

    def step(self, start: datetime, count: int = 1) -> datetime:
        """The grid point ``count`` windows after ``start`` (wall-clock addition)."""
        return start + timedelta(hours=self.hours * count)

    def bounds(self, start: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The window starting at wall time ``start`` as aware instants ``[start, end)`` in ``tz``."""
        return wall_to_instant(start, tz), wall_to_instant(self.step(start), tz)

    def exists(self, start: datetime, tz: ZoneInfo) -> bool:
        """False for a window that lies wholly inside a DST gap (it covers no instant)."""
        begin, end = self.bounds(start, tz)
        return begin.astimezone(UTC) < end.astimezone(UTC)

    def containing(self, instant: datetime, tz: ZoneInfo) -> datetime:
        """The logical time of the window that contains the aware ``instant``."""
        return self.floor(instant.astimezone(tz).replace(tzinfo=None))

    def previous(self, start: datetime, tz: ZoneInfo) -> datetime:
        """The logical time of the last window that exists before the one starting at ``start``."""
        for count in range(1, _MAX_SKIP):
            candidate = self.step(start, -count)
            if self.exists(candidate, tz):
                return candidate
        return self.step(start, -1)

    def between(self, first: datetime, last: datetime, tz: ZoneInfo) -> list[datetime]:
        """The logical times of the existing windows from ``first`` to ``last``, inclusive."""
        out: list[datetime] = []
        current = self.floor(first)
        if current < first:
            current = self.step(current)
        while current <= last:
            if self.exists(current, tz):
                out.append(current)
            current = self.step(current)
        return out

    def key(self, start: datetime) -> date:
        """The window's key: its date for day and week windows, its start for hour windows."""
        return start if self.sub_day else start.date()

    def start_of(self, key: date) -> datetime:
        """The naive start of the window whose key (or date, for midnight) is ``key``."""
        return key if isinstance(key, datetime) else datetime.combine(key, time(0))

    def label(self, start: datetime) -> str:
        """How the window is shown and passed to ``--date``."""
        return format_key(self.key(start))

    def parse_option(self, text: str, option: str, *, end: bool = False) -> datetime:
        """Parse ``--date``-style text into a logical time on this window's grid.

        Accepts ``YYYY-MM-DD`` and, for hour windows, ``YYYY-MM-DDTHH`` or
        ``YYYY-MM-DDTHH:MM``. A bare date means the day's first window, or with ``end``
        (``backfill --end``) its last. A week window's date must be a Monday.
        ConfigError (exit 2) names ``option`` and the accepted form.
        """
        form = "YYYY-MM-DD, YYYY-MM-DDTHH or YYYY-MM-DDTHH:MM" if self.sub_day else "YYYY-MM-DD"
        match = _DATE_TIME.match(text.strip())
        try:
            if not match:
                raise ValueError
            day = date.fromisoformat(match[1])
            hour, minute, second = (int(match[i] or 0) for i in (2, 3, 4))
            wall = datetime.combine(day, time(hour, minute, second))
        except ValueError:
            what = "a time" if self.sub_day else "a date"
            raise ConfigError(f"{option}: {text!r} is not {what} in {form} form") from None
        if match[2] is not None and not self.sub_day and wall.time() != time(0):
            raise ConfigError(
                f"{option}: {text!r} has a time of day, but [job] window = '{self.text}' takes {form}"
            )
        if self.floor(wall) != wall:
            raise ConfigError(f"{option}: {text!r} is not the start of a window; {self._grid_hint(wall)}")
        if end and match[2] is None and self.sub_day:
            wall = self.step(wall, 24 // self.hours - 1)
        return wall

    def _grid_hint(self, wall: datetime) -> str:
        start = self.floor(wall)
        if self.weekly:
            return f"[job] window = '7d' starts weeks on Mondays (the week of {wall.date()} starts {start.date()})"
        hours = "on the hour" if self.hours == 1 else f"at 00:00 and every {self.hours} hours after"
        return f"[job] window = '{self.text}' starts windows {hours} (this one starts {format_key(start)})"


DAY = Window(24)
