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

**The mark is the API's own text.** Values are compared by type (timestamps as
instants, numbers as numbers), but a mark is a :class:`Mark` that keeps the text
the API sent, and that text is what is stored and sent back, byte for byte: APIs
that compare as text (SQLite, Datasette, json-server) would skip rows given
``…12:00:00Z`` for their ``…12:00:00.000Z``. ``initial`` is sent as written, and
``mark - lookback`` is spelled like the mark (:mod:`dailyfetch.cursor_text`).

**One type per cursor, set by** ``initial``: an ISO 8601 timestamp (``Z`` or an
offset; naive ones are UTC), a number (JSON numbers, or strings holding one), or
other text (compared as text). A record whose cursor has another type, or a
timestamp more than :data:`TOLERANCE` past both now and the run's window end,
fails the batch before it is written and names the record: such a value would
stop every later run from fetching anything (a text mark above all timestamps, a
mark in year 9999). Nulls and missing values are ignored. A stored mark of the
wrong type or that far ahead (left by an earlier version) fails the run naming
``dailyfetch state reset``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from dailyfetch.config import IncrementalConfig
from dailyfetch.cursor_text import shift_number, shift_timestamp
from dailyfetch.errors import ConfigError, LoadError, SourceError
from dailyfetch.redact import clip

if TYPE_CHECKING:
    from dailyfetch.plan import RunPlan

Cursor = datetime | int | float | Decimal | str
Kind = Literal["timestamp", "number", "text"]

TOLERANCE = timedelta(days=1)  # how far past now / the window end a timestamp cursor may be (clock skew)
_NUMBERS = {int, float, Decimal}


@dataclass(frozen=True)
class Mark:
    """A cursor value: the ``text`` the API wrote (stored and sent back) and its parsed ``value`` (compared)."""

    text: str
    value: Cursor


def parse_cursor(value: Any) -> Cursor:
    """A cursor value as something comparable: an aware datetime, a number, or text."""
    if isinstance(value, bool):
        raise ConfigError(f"incremental cursor value {value!r} is a boolean, not a timestamp or number")
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value).strip()
    number = _number(text)
    if number is not None:
        return number
    stamp = _timestamp(text)
    return stamp if stamp is not None else text


def cursor_kind(initial: str) -> Kind:
    """The type every value of the cursor must have: that of ``initial``."""
    parsed = parse_cursor(initial)
    if isinstance(parsed, datetime):
        return "timestamp"
    return "text" if isinstance(parsed, str) else "number"


def _number(text: str) -> int | Decimal | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() and text[-1:].isdigit() else None


def _timestamp(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.upper())  # 't' and 'z' are ISO 8601 too
        except ValueError:
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _as(value: Any, kind: Kind) -> Cursor | None:
    """``value`` parsed as a cursor of ``kind``, or ``None`` when it is of another type."""
    if isinstance(value, bool):
        return None
    if kind == "text":
        return value if isinstance(value, str) else None
    if kind == "number":
        if type(value) in _NUMBERS:
            return value  # type: ignore[no-any-return]
        return _number(value.strip()) if isinstance(value, str) else None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return _timestamp(value.strip()) if isinstance(value, str) else None


def _text_of(value: Any) -> str:
    """The text to send back for a record's cursor value: a string as it is."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _type_of(value: Any) -> str:
    """What a cursor value is, for an error message: ``text``, ``a timestamp``, ``a number``, ..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        value = parse_cursor(value)
        if isinstance(value, str):
            return "text"
    if type(value) in _NUMBERS:
        return "a number"
    if isinstance(value, datetime | date):
        return "a timestamp"
    return (
        "a JSON object"
        if isinstance(value, dict)
        else "a JSON array"
        if isinstance(value, list)
        else "a value"
    )


def _describe(value: Any) -> str:
    """A record's cursor value for an error message: its type and (shortened) value."""
    shown = _text_of(value) if not isinstance(value, dict | list) else ""
    shown = clip(shown, 60)  # redacted before it is cut: no secret's head is left
    return f"{_type_of(value)} {shown!r}" if shown else _type_of(value)


def _wanted(kind: Kind, config: IncrementalConfig) -> str:
    return f"{'text' if kind == 'text' else 'a ' + kind} like source.incremental.initial ({config.initial!r})"


def later(a: Mark | None, b: Mark | None) -> Mark | None:
    """The later of two marks of one kind (``None`` is earliest; a tie keeps ``a`` and its text)."""
    if a is None:
        return b
    if b is None:
        return a
    return b if b.value > a.value else a  # type: ignore[operator]


def horizon(plan: RunPlan | None = None, now: datetime | None = None) -> datetime:
    """The latest timestamp a cursor may hold: :data:`TOLERANCE` past now or the run's window end."""
    latest = now or datetime.now(UTC)
    if plan is not None:
        from zoneinfo import ZoneInfo

        end = plan.window.bounds(plan.start_wall, ZoneInfo(plan.timezone))[1]
        latest = max(latest, end.astimezone(UTC))
    return latest + TOLERANCE


def batch_mark(
    values: Sequence[Any],
    config: IncrementalConfig,
    *,
    latest: datetime,
    key_of: Callable[[int], str],
) -> Mark | None:
    """The largest cursor value of a batch (``values``: each record's, ``None`` where null or missing).

    Raises :class:`SourceError` naming the record (``key_of(index)``) when a value has another
    type than ``initial`` or is a timestamp past ``latest`` (see :func:`horizon`).
    """
    kind = cursor_kind(config.initial)
    best = _fast_max(values, kind)
    if best is None:
        for index, value in enumerate(values):
            if value is None:
                continue
            parsed = _as(value, kind)
            if parsed is None:
                raise SourceError(
                    f"record {key_of(index)}: cursor field {config.cursor!r} is {_describe(value)}, not "
                    f"{_wanted(kind, config)}; the batch was not written",
                    hint="fix the record at the source, or choose a source.incremental.cursor of one type",
                )
            best = later(best, Mark(_text_of(value), parsed))
    if best is not None and kind == "timestamp" and best.value > latest:  # type: ignore[operator]
        index = next(i for i, v in enumerate(values) if v is not None and _text_of(v) == best.text)
        raise SourceError(
            f"record {key_of(index)}: cursor field {config.cursor!r} = {best.text!r} is more than "
            f"{_days(TOLERANCE)} past now and the run's window end; as the high-water mark it would hide "
            "every later change, so the batch was not written",
            hint="fix the record at the source",
        )
    return best


def _fast_max(values: Sequence[Any], kind: Kind) -> Mark | None:
    """:func:`batch_mark`'s common case at C speed; ``None`` when the batch needs the value-by-value look."""
    types = set(map(type, values))
    present = values
    if type(None) in types:
        types.discard(type(None))
        present = [v for v in values if v is not None]
    if not types:
        return None
    if types == {str} and kind != "number":
        if kind == "text":
            top: Any = max(present)
            return Mark(top, top)
        try:
            parsed = list(map(datetime.fromisoformat, present))
            top = max(parsed)  # TypeError for naive beside aware values
        except (ValueError, TypeError):
            return None
        text = present[parsed.index(top)]
        return Mark(text, top if top.tzinfo is not None else top.replace(tzinfo=UTC))
    if kind == "number" and types <= _NUMBERS:
        top = max(present)
        return Mark(str(top), top)
    return None


def _days(delta: timedelta) -> str:
    return f"{delta.days} day" + ("s" if delta.days != 1 else "")


def stored_mark(
    text: str,
    config: IncrementalConfig,
    *,
    partition: str,
    latest: datetime | None = None,
    what: str = "stored",
) -> Mark:
    """A mark read back from the ledger; :class:`LoadError` naming the way out when it is poisoned."""
    kind = cursor_kind(config.initial)
    parsed = _as(text, kind)
    where = f" --partition '{partition}'" if partition != "*" else ""
    problem = None
    if parsed is None:
        problem = f"is {_type_of(text)}, not {_wanted(kind, config)}"
    elif kind == "timestamp" and parsed > (latest or horizon()):  # type: ignore[operator]
        problem = f"is more than {_days(TOLERANCE)} in the future, so no later change would be fetched"
    if problem is not None:
        raise LoadError(
            f"the {what} high-water mark {text!r}{' of partition ' + partition if where else ''} {problem}",
            hint=f"run `dailyfetch state reset{where}` to start again at initial, "
            f"or `dailyfetch state set VALUE{where}`",
        )
    assert parsed is not None
    return Mark(text, parsed)


def since_for(
    config: IncrementalConfig, mark: str | None, *, partition: str = "*", latest: datetime | None = None
) -> str:
    """What a fresh partition asks for: the mark (or ``initial``, as written) minus ``lookback``."""
    if mark is None:
        return config.initial
    current = stored_mark(mark, config, partition=partition, latest=latest)
    since = _minus_lookback(current, config) if config.lookback else current
    if since is None or since.value < parse_cursor(config.initial):  # type: ignore[operator]
        return config.initial  # never before initial
    return since.text


def _minus_lookback(mark: Mark, config: IncrementalConfig) -> Mark | None:
    """``mark - lookback`` spelled like the mark (``None``: before the calendar's start)."""
    lookback = str(config.lookback)
    if isinstance(mark.value, datetime):
        from dailyfetch.stopping import parse_duration

        try:
            text = shift_timestamp(mark.text, mark.value, parse_duration(lookback))
        except OverflowError:
            return None
        shifted = _timestamp(text)
        return Mark(text, shifted) if shifted is not None else None
    if isinstance(mark.value, str):
        return mark  # text cursors have no distance to look back by
    try:
        text = shift_number(mark.text, lookback)
    except ValueError:
        raise ConfigError(
            f"source.incremental.lookback: {lookback!r} is not a number, but the cursor is numeric; "
            'write a number such as lookback = "100"'
        ) from None
    value = _number(text)
    assert value is not None
    return Mark(text, value)


def mark_text(config: IncrementalConfig, value: str, *, partition: str = "*") -> str:
    """A mark set by hand (``dailyfetch state set``), checked like a record's and kept as written."""
    text = value.strip()
    kind = cursor_kind(config.initial)
    if _as(text, kind) is None:
        raise ConfigError(f"VALUE: {text!r} is {_type_of(text)}, not {_wanted(kind, config)}")
    try:
        stored_mark(text, config, partition=partition)
    except LoadError as exc:
        raise ConfigError(f"VALUE: {text!r} is more than {_days(TOLERANCE)} in the future") from exc
    return text
