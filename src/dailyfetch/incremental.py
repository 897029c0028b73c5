"""Incremental cursors: fetch everything updated since the last run's high-water mark.

``[source.incremental]`` names a record field (``cursor``, e.g. ``updated_at``).
A run asks for records changed since ``high-water mark - lookback`` (or since
``initial`` the first time): the value goes into query parameter ``param`` and
the ``{since}`` run variable. The overlap that ``lookback`` refetches catches
late-arriving updates; ``merge`` makes it harmless.

The high-water mark is the maximum cursor value among a partition's committed
rows. Each batch records its maximum as the partition's *pending* mark in the
same transaction as its rows; the mark becomes the high-water mark in the
transaction that completes the partition. A crash therefore never advances the
mark past data that did not land, and a resumed partition keeps asking for the
same ``since`` it started with (it is stored with its progress), so no range is
fetched twice by one run nor skipped between runs.

Cursor values are ISO 8601 timestamps (``Z`` or an offset; naive ones are UTC),
numbers, or other strings (compared as text). ``lookback`` is a duration
(``"2h"``) for timestamps, a number for numeric cursors.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from dailyfetch.config import IncrementalConfig
from dailyfetch.errors import ConfigError

Cursor = datetime | int | float | str


def parse_cursor(value: Any) -> Cursor:
    """A cursor value as something comparable: an aware datetime, a number, or text."""
    if isinstance(value, bool):
        raise ConfigError(f"incremental cursor value {value!r} is a boolean, not a timestamp or number")
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text) if text.replace(".", "", 1).lstrip("-").isdigit() else _timestamp(text)
    except ValueError:
        return text


def _timestamp(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_cursor(value: Cursor) -> str:
    """A cursor as the API expects it back: ISO 8601 (``Z`` for UTC) or plain text."""
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return str(value)


def _comparable(a: Cursor, b: Cursor) -> bool:
    numeric = (int, float)
    return isinstance(a, numeric) == isinstance(b, numeric) and isinstance(a, datetime) == isinstance(
        b, datetime
    )


def later(a: Cursor | None, b: Cursor | None) -> Cursor | None:
    """The later of two cursor values (``None`` is earliest)."""
    if a is None:
        return b
    if b is None or not _comparable(a, b):
        return a
    return b if b > a else a  # type: ignore[operator]


def max_cursor(values: Iterable[Any]) -> Cursor | None:
    """The largest cursor value among a batch's cursor field ``values`` (nulls are ignored)."""
    best: Cursor | None = None
    for value in values:
        if value is not None and not isinstance(value, bool):
            best = later(best, parse_cursor(value))
    return best


def since_for(config: IncrementalConfig, mark: str | None) -> str:
    """What a fresh partition asks for: the mark (or ``initial``) minus ``lookback``."""
    start = parse_cursor(mark if mark is not None else config.initial)
    if mark is not None and config.lookback:
        if isinstance(start, datetime):
            from dailyfetch.stopping import parse_duration

            start = start - timedelta(seconds=parse_duration(config.lookback))
        elif isinstance(start, int | float):
            step = float(config.lookback)
            start = start - (int(step) if isinstance(start, int) and step.is_integer() else step)
    initial = parse_cursor(config.initial)
    if _comparable(start, initial) and start < initial:  # type: ignore[operator]
        start = initial
    return format_cursor(start)
