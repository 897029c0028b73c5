"""Read a loaded table back against the records it came from, by JSON semantics.

Numbers compare by value (``1`` is ``1.0``), an integer exactly (``9007199254740993``
is not ``…992``), a float as the double it decodes to, a boolean only as a boolean
(``true`` is not ``1``), ``null`` and a missing field as SQL NULL, objects and arrays
member by member. Each difference found is a :class:`Problem` with a category, so a
property test can tell one class of defect from another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any


def json_equal(source: Any, stored: Any) -> bool:
    """Whether ``stored`` (as psycopg reads it) is the JSON value ``source``."""
    if source is None or isinstance(source, (bool, str)):
        return type(stored) is type(source) and stored == source
    if isinstance(source, int):
        return _is_number(stored) and Decimal(stored) == source
    if isinstance(source, float):
        try:
            return _is_number(stored) and float(stored) == source
        except OverflowError:
            return False
    if isinstance(source, list):
        return (
            isinstance(stored, list) and len(stored) == len(source) and all(map(json_equal, source, stored))
        )
    return (
        isinstance(stored, dict)
        and stored.keys() == source.keys()
        and all(json_equal(v, stored[k]) for k, v in source.items())
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def key_of(value: Any) -> tuple[str, Any]:
    """A primary key's identity by JSON semantics: ``true`` is not ``1``; ``1`` is ``1.0``."""
    if isinstance(value, bool):
        return ("boolean", value)
    if _is_number(value):
        return ("number", Fraction(value))
    return (type(value).__name__, value)


def json_kind(value: Any) -> str:
    """The JSON kind of a decoded value, with integers past 64 bits apart (``huge``)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if -(2**63) <= value < 2**63 else "huge"
    if isinstance(value, (dict, list)):
        return "nested"
    return type(value).__name__


def walk(value: Any) -> Iterator[Any]:
    """``value`` and every member, object key and element inside it."""
    yield value
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


@dataclass(frozen=True)
class Problem:
    """One difference between the source and the table: its class and the particulars."""

    category: str
    detail: str


class Table:
    """The rows of a table read back through a field-to-column mapping.

    ``column_for(field)`` names the column a field's values land in (if the table has it).
    Columns named ``_dailyfetch_*`` that no field maps to are bookkeeping.
    """

    def __init__(
        self,
        records: list[dict[str, Any]],
        columns: list[str],
        rows: list[tuple[Any, ...]],
        column_for: Callable[[str], str],
        key: str,
    ) -> None:
        self.records = records
        self.key = key
        self.fields = list(dict.fromkeys(f for r in records for f in r))
        # append's bookkeeping columns are never a field's (a field named like one is refused)
        bookkeeping = set() if key else {c for c in columns if c.startswith("_dailyfetch_")}
        self.column = {
            f: c if (c := column_for(f)) in columns and c not in bookkeeping else None for f in self.fields
        }
        self.rows = [dict(zip(columns, row, strict=True)) for row in rows]
        mapped = {c for c in self.column.values() if c is not None}
        self.extra = [c for c in columns if c not in mapped and not c.startswith("_dailyfetch_")]

    def value(self, row: dict[str, Any], field: str) -> Any:
        column = self.column.get(field)
        return None if column is None else row[column]

    def matches(self, record: dict[str, Any], row: dict[str, Any]) -> bool:
        return all(json_equal(record.get(f), self.value(row, f)) for f in self.fields)

    def column_problems(self) -> list[Problem]:
        """Fields with values but no column, fields sharing a column, values in no field's column."""
        out = []
        landing = list(self.merged().values()) if self.key else self.records  # merge: per key, folded
        for field, column in self.column.items():
            if column is None and any(r.get(field) is not None for r in landing):
                out.append(Problem("field without its column", f"field {field!r} has values, no column"))
        seen: dict[str, str] = {}
        for field, column in self.column.items():
            if column is not None and seen.setdefault(column, field) != field:
                out.append(Problem("fields share a column", f"{seen[column]!r} and {field!r} in {column!r}"))
        for column in self.extra:
            if any(row[column] is not None for row in self.rows):
                out.append(Problem("values in no field's column", f"column {column!r}"))
        return out

    def unmatched(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Pair rows with records greedily: the records and the rows left without a partner."""
        rows = list(self.rows)
        alone = []
        for record in self.records:
            partner = next((i for i, row in enumerate(rows) if self.matches(record, row)), None)
            if partner is None:
                alone.append(record)
            else:
                rows.pop(partner)
        return alone, rows

    def appended_problems(self, *, complete: bool) -> list[Problem]:
        """append: one row per record (``complete``), or (a failed run) no row that is no record."""
        alone, extra = self.unmatched()
        out = [Problem("row that is no record", f"row {row!r}") for row in extra]
        if complete:
            out += [self._why_alone(record) for record in alone]
        return out

    def _why_alone(self, record: dict[str, Any]) -> Problem:
        """The closest row's first differing field, for a record no row holds."""
        if not self.rows:
            return Problem("record without its row", f"record {record!r}: the table is empty")
        best = max(
            self.rows, key=lambda row: sum(json_equal(record.get(f), self.value(row, f)) for f in self.fields)
        )
        field = next(f for f in self.fields if not json_equal(record.get(f), self.value(best, f)))
        return self._mismatch(f"record {record!r}", field, [record.get(field)], self.value(best, field))

    def _mismatch(self, where: str, field: str, allowed: list[Any], stored: Any) -> Problem:
        """``stored`` is none of the ``allowed`` source values (the last one is the one shown)."""
        kinds = sorted({json_kind(a) for a in allowed if a is not None}) or ["null"]
        got = "NULL" if stored is None else type(stored).__name__
        return Problem(
            f"value {'/'.join(kinds)} landed as {got}",
            f"{where} field {field!r}: source {allowed[-1]!r}, table {stored!r}",
        )

    def versions(self) -> dict[tuple[str, Any], list[dict[str, Any]]]:
        """merge: each key's records, in source order (a record without its key has no row to be)."""
        out: dict[tuple[str, Any], list[dict[str, Any]]] = {}
        for record in self.records:
            if record.get(self.key) is not None:
                out.setdefault(key_of(record[self.key]), []).append(record)
        return out

    def merged(self) -> dict[tuple[str, Any], dict[str, Any]]:
        """merge: each key's row as upserting its records one by one makes it: per field, the last
        value the source gave (an explicit null included); a field no record gave is absent."""
        out: dict[tuple[str, Any], dict[str, Any]] = {}
        for key, records in self.versions().items():
            row: dict[str, Any] = {}
            for record in records:
                row.update(record)
            out[key] = row
        return out

    def merged_problems(self, *, complete: bool) -> list[Problem]:
        """merge: one row per key, each field the last value the source gave for it (:meth:`merged`),
        whatever the batches. Not ``complete`` (a failed run): a row may hold any version of its
        key, field by field."""
        out = []
        versions = self.versions()
        merged = self.merged()
        by_key: dict[tuple[str, Any], dict[str, Any]] = {}
        for row in self.rows:
            key = key_of(self.value(row, self.key))
            if key in by_key:
                out.append(Problem("two rows for one key", f"key {key[1]!r}"))
            by_key[key] = row
        for key in by_key.keys() - versions.keys():
            out.append(Problem("row for a key the source lacks", f"key {key[1]!r} ({key[0]})"))
        for key, records in versions.items():
            row = by_key.get(key)
            if row is None:
                if complete:
                    out.append(Problem("key without its row", f"key {records[-1][self.key]!r}"))
                continue
            for field in self.fields:
                stored = self.value(row, field)
                allowed = [None] + [r[field] for r in records if field in r]
                if complete:
                    allowed = [merged[key].get(field)]
                if not any(json_equal(a, stored) for a in allowed):
                    out.append(self._mismatch(f"key {records[-1][self.key]!r}", field, allowed, stored))
        return out
