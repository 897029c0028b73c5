"""What ``dailyfetch init`` guesses about the sample's fields: the key, column types, a cursor.

Pure functions over the sample records, each returning its guess with the reason
(see :mod:`dailyfetch.init_infer` for the records path and pagination).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dailyfetch.init_infer import Guess, Record

TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?P<zone>Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_NAME = re.compile(r"(time|date|_at$|[a-z]At$|^ts$|_ts$|_ms$|created|updated|modified|epoch)")
_CHANGED_NAME = re.compile(r"(updated|modified|changed|lastupdate|lastmodif)", re.IGNORECASE)
_WHEN_NAME = re.compile(r"(time|timestamp|created|date)", re.IGNORECASE)


def infer_primary_key(records: list[Record], resource: str = "") -> tuple[str | None, Guess]:
    """An id-like top-level field present, scalar and unique in every sample record."""
    if not records:
        return None, Guess("primary key", "none: the sample has no records; rows are appended")
    names = list(dict.fromkeys(k for r in records for k in r))
    singular = resource[:-1] if resource.endswith("s") else resource
    ranked = ["id", "uuid", "guid", f"{singular}_id", f"{singular}Id", "code", "key"]
    ranked += [n for n in names if re.search(r"(_id|Id|_uuid|_key)$", n)]
    for name in dict.fromkeys(ranked):
        values = [r.get(name) for r in records]
        if not all(isinstance(v, str | int) and not isinstance(v, bool) and v != "" for v in values):
            continue
        if len(set(values)) != len(values):
            continue
        proof = f"unique in all {len(records)} sample records" if len(records) > 1 else "only 1 sample record"
        return name, Guess("primary key", f"{name} ({proof}): rows are merged on it, so re-runs are harmless")
    why = "none: no id-like field (id, uuid, *_id, code) is unique in the sample; rows are appended"
    return None, Guess("primary key", why)


@dataclass(frozen=True)
class ColumnGuess:
    """A top-level field: the type dailyfetch would infer, a type to declare (or ``None``), and why."""

    name: str
    inferred: str | None
    declared: str | None = None
    note: str = ""


def infer_columns(records: list[Record]) -> list[ColumnGuess]:
    """Each top-level field of the sample, with a declared type where inference is ambiguous."""
    from dailyfetch.load.columns import infer_type, observe

    seen = observe(records)
    names = list(dict.fromkeys(k for r in records for k in r))
    columns: list[ColumnGuess] = []
    for name in names:
        types = seen.get(name, set())
        values = [r[name] for r in records if r.get(name) is not None]
        columns.append(_column(name, infer_type(types), {t for t in types if t is not type(None)}, values))
    return columns


def _column(name: str, inferred: str | None, kinds: set[type], values: list[Any]) -> ColumnGuess:
    if inferred is None:
        return ColumnGuess(
            name, None, note="only nulls in the sample: the column appears with its first value"
        )
    if kinds == {str}:
        zones = [TIMESTAMP.match(v) for v in values]
        if all(zones):
            if all(m is not None and m.group("zone") for m in zones):
                return ColumnGuess(name, inferred, "timestamptz", "ISO 8601 timestamps with a zone")
            if not any(m is not None and m.group("zone") for m in zones):
                return ColumnGuess(name, inferred, "timestamp", "ISO 8601 timestamps without a zone")
            return ColumnGuess(name, inferred, note="ISO 8601 timestamps, some without a zone: kept as text")
        if all(DATE.match(v) and _valid_date(v) for v in values):
            return ColumnGuess(name, inferred, "date", "ISO 8601 dates")
    if kinds == {int, float}:
        note = "whole and decimal numbers: a page of whole ones alone would make it bigint"
        return ColumnGuess(name, inferred, "double precision", note)
    if kinds == {int} and _TIME_NAME.search(name):
        epoch = _epoch_unit(values)
        if epoch == "ms":
            return ColumnGuess(name, inferred, note="epoch milliseconds: to_timestamp(x / 1000.0) in SQL")
        if epoch == "s":
            return ColumnGuess(name, inferred, note="epoch seconds: to_timestamp(x) in SQL")
    if inferred == "jsonb" and not kinds <= {dict, list}:
        return ColumnGuess(name, inferred, note="mixed JSON types in the sample: stored as jsonb")
    return ColumnGuess(name, inferred)


def _valid_date(text: str) -> bool:
    try:
        return bool(datetime.strptime(text, "%Y-%m-%d"))
    except ValueError:
        return False


def _epoch_unit(values: list[Any]) -> str | None:
    """``"ms"`` or ``"s"`` when every value is an epoch between 2001 and 2286, else ``None``."""
    if values and all(10**12 <= v < 10**13 for v in values):
        return "ms"
    if values and all(10**9 <= v < 10**10 for v in values):
        return "s"
    return None


@dataclass(frozen=True)
class IncrementalGuess:
    """A field that tells when a record changed, for a commented ``[source.incremental]`` block."""

    cursor: str
    param: str
    initial: str
    lookback: str
    guess: Guess


_LOOKBACK = {"ms": "7200000", "s": "7200"}  # 2 hours in a numeric cursor's unit


def infer_incremental(records: list[Record]) -> IncrementalGuess | None:
    """A top-level ``updated_at``-like timestamp field in every record, or ``None``.

    Nested fields (USGS's ``properties.updated``) are not offered: the incremental
    high-water mark reads a top-level field.
    """
    candidates: list[tuple[int, int, str, list[Any], str]] = []
    names = list(dict.fromkeys(k for r in records for k in r))
    for order, name in enumerate(names):
        rank = 0 if _CHANGED_NAME.search(name) else 1 if _WHEN_NAME.search(name) else None
        present = [r[name] for r in records if r.get(name) is not None]
        kind = _timestamp_kind(present) if present and all(name in r for r in records) else None
        if rank is not None and kind is not None:
            candidates.append((rank, order, name, present, kind))
    if not candidates:
        return None
    rank, _, name, present, kind = min(candidates, key=lambda c: (c[0], c[1]))
    try:
        initial = str(min(present)) if kind in _LOOKBACK else min(present, key=_instant)
    except ValueError:  # an offset Python cannot parse: the text order is close enough
        initial = min(present)
    what = "when each record last changed" if rank == 0 else "when each record happened"
    why = f"'{name}' looks like {what}: a commented [source.incremental] block is in the file"
    param = "updated_since" if rank == 0 else "since"
    return IncrementalGuess(name, param, initial, _LOOKBACK.get(kind, "2h"), Guess("incremental", why))


def _instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _timestamp_kind(values: list[Any]) -> str | None:
    if all(isinstance(v, str) for v in values):
        if all(TIMESTAMP.match(v) for v in values):
            return "iso"
        return "date" if all(DATE.match(v) for v in values) else None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return _epoch_unit(values)
    return None
