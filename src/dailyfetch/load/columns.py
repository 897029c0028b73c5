"""Columns from data: infer PostgreSQL types from JSON values, and check values fit.

Inference (for a column seen for the first time):

=====================  ====================
JSON values seen        column type
=====================  ====================
integers                ``bigint``
floats (or int+float)   ``double precision``
booleans                ``boolean``
strings                 ``text``
objects / arrays        ``jsonb``
a mix of the above      ``jsonb`` (lossless)
only nulls              no column yet
=====================  ====================

Declared types (``[destination.columns]``) win. A value whose JSON type a
column cannot hold without coercion (a string in a ``bigint`` column, a float
in a ``bigint``, a number in a ``text`` column) is an error naming the column
and the row's key: nothing is silently dropped or converted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from dailyfetch.errors import LoadError

_INTEGER_TYPES = frozenset({"bigint", "integer", "smallint"})
_FLOAT_TYPES = frozenset({"double precision", "real", "numeric"})
_INT_RANGE = {
    "bigint": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "smallint": (-(2**15), 2**15 - 1),
}

# For each column type family, the Python types (from JSON) it accepts as-is.
_ACCEPTS: dict[str, frozenset[type]] = {
    "integer": frozenset({int}),
    "float": frozenset({int, float}),
    "numeric": frozenset({int, float, str}),
    "boolean": frozenset({bool}),
    "text": frozenset({str}),
    "json": frozenset({dict, list, str, int, float, bool}),
    "parsed": frozenset({str}),  # dates, timestamps, uuids ...: PostgreSQL parses the string
}


def family(pg_type: str) -> str:
    """The family of a PostgreSQL type name as ``format_type`` prints it."""
    base = pg_type.split("(")[0].strip().lower()
    if base in _INTEGER_TYPES:
        return "integer"
    if base == "numeric":
        return "numeric"
    if base in _FLOAT_TYPES:
        return "float"
    if base == "boolean":
        return "boolean"
    if base in ("text", "character varying", "character", "varchar", "citext", "name"):
        return "text"
    if base in ("jsonb", "json"):
        return "json"
    return "parsed"


def infer_type(types: Iterable[type]) -> str | None:
    """The column type for a set of observed Python value types (``None`` if only nulls)."""
    seen = {t for t in types if t is not type(None)}
    if not seen:
        return None
    if seen == {bool}:
        return "boolean"
    if seen == {int}:
        return "bigint"
    if seen <= {int, float}:
        return "double precision"
    if seen == {str}:
        return "text"
    return "jsonb"


Columns = dict[str, Sequence[Any]]


def field_values(records: Sequence[dict[str, Any]]) -> Columns | None:
    """Each field's values in record order (``None`` where a record lacks it), in first-seen order.

    Column by column, so the per-value work runs in C. ``None`` past ``_MANY_FIELDS``
    distinct fields, where that would cost fields x records lookups.
    """
    uniform = _uniform_columns(records)
    if uniform is not None:
        return uniform
    names = dict.fromkeys(chain.from_iterable(records))
    if len(names) > _MANY_FIELDS:
        return None
    return {name: list(map(dict.get, records, repeat(name))) for name in names}


def _uniform_columns(records: Sequence[dict[str, Any]]) -> Columns | None:
    """The columns when every record has exactly the first record's fields (most APIs), else ``None``.

    Records of the first one's length that all hold its fields hold no other: one
    ``itemgetter`` per record then gives the rows, transposed in C. That is about
    a third of the cost of looking each field up in every record.
    """
    if not records or not isinstance(records[0], dict):
        return None
    names = list(records[0])
    if not 1 < len(names) <= _MANY_FIELDS or set(map(len, records)) != {len(names)}:
        return None
    try:
        rows = list(map(itemgetter(*names), records))
    except (KeyError, TypeError):  # a record with other fields, or not a dict
        return None
    return dict(zip(names, zip(*rows, strict=True), strict=True))


def observe(records: Sequence[dict[str, Any]], values: Columns | None = None) -> dict[str, set[type]]:
    """For each field in ``records`` (in first-seen order), the set of Python types its values have.

    ``values`` is :func:`field_values` of ``records`` when the caller has it. A record
    without the field counts as a null there (it may not, past ``_MANY_FIELDS``
    distinct fields: neither changes a column's type).
    """
    if values is None:
        values = field_values(records)
    if values is not None:
        return {name: set(map(type, column)) for name, column in values.items()}
    seen: dict[str, set[type]] = {}  # records with ever-new keys
    for record in records:
        for name, value in record.items():
            seen.setdefault(name, set()).add(type(value))
    return seen


_MANY_FIELDS = 256  # beyond this, column by column would cost fields x records lookups


def describe(
    records: Sequence[dict[str, Any]], columns: Mapping[str, str], declared: Mapping[str, str]
) -> tuple[list[str], dict[str, str | None]]:
    """The fields of ``records`` and the family of each one's column: the table's (``columns``),
    else the declared or inferred type a batch of them creates (``None``: only nulls, no column)."""
    observed = observe(records)
    families: dict[str, str | None] = {}
    for name, types in observed.items():
        pg_type = columns.get(name) or declared.get(name) or infer_type(types)
        families[name] = family(pg_type) if pg_type else None
    return list(observed), families


def accepts(family_name: str) -> frozenset[type]:
    """The Python types (as JSON decodes) a column of family ``family_name`` takes as they are."""
    return _ACCEPTS[family_name]


class JsonbValues(list[bytes | None]):
    """A ``jsonb`` column's values in binary form (version byte 1, then the JSON text); ``None`` for NULL."""


def jsonb_binary(texts: Sequence[Any]) -> JsonbValues:
    """The binary ``jsonb`` form of each JSON text (bytes or a buffer); ``None`` and a JSON
    ``null`` both become SQL NULL, as the set-based path's ``NULLIF(doc -> field, 'null')``."""
    if None in texts:
        out = JsonbValues(None if t is None else b"\x01" + t for t in texts)
    else:
        out = JsonbValues(map(b"\x01".__add__, texts))  # all in C
    if _JSONB_NULL in out:
        out = JsonbValues(None if v == _JSONB_NULL else v for v in out)
    return out


_JSONB_NULL = b"\x01null"


def incompatible(pg_type: str, types: set[type]) -> set[type]:
    """The observed types a column of ``pg_type`` cannot hold without coercion."""
    accepted = _ACCEPTS[family(pg_type)]
    return {t for t in types if t is not type(None) and t not in accepted}


def _json_name(kind: type) -> str:
    return {
        int: "integer",
        float: "number",
        bool: "boolean",
        str: "string",
        dict: "object",
        list: "array",
    }.get(kind, kind.__name__)


class BadValueError(LoadError):
    """A value its column cannot store; ``index`` is the record's position in the batch."""

    def __init__(self, message: str, *, index: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.index = index


def find_bad_value(
    records: Sequence[dict[str, Any]],
    columns: dict[str, str],
    primary_key: Sequence[str],
) -> BadValueError | None:
    """The first value in ``records`` its column cannot store, as a :class:`BadValueError`."""
    for index, record in enumerate(records):
        for name, value in record.items():
            pg_type = columns.get(name)
            if pg_type is None or value is None:
                continue
            problem = _value_problem(pg_type, value)
            if problem:
                return BadValueError(
                    f"column {name!r} ({pg_type}) cannot store {problem} in row {describe_key(record, primary_key, index)}",
                    index=index,
                    hint="declare the column's type in [destination.columns] or fix the source",
                )
    return None


def _value_problem(pg_type: str, value: Any) -> str | None:
    kind = type(value)
    fam = family(pg_type)
    if kind not in _ACCEPTS[fam]:
        return f"a JSON {_json_name(kind)} ({_short(value)})"
    if fam == "integer":
        low, high = _INT_RANGE.get(pg_type.split("(")[0].strip(), _INT_RANGE["bigint"])
        if not low <= value <= high:
            return f"{value} (out of range)"
    if kind is str and "\x00" in value:
        return "a string containing a NUL character"
    if fam == "json" and _has_nul(value):
        return "a JSON value containing a NUL character"
    return None


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe_key(record: dict[str, Any], primary_key: Sequence[str], index: int) -> str:
    """How to name a row in an error: its primary key, or its position in the batch."""
    if primary_key:
        return ", ".join(f"{k}={record.get(k)!r}" for k in primary_key)
    return f"#{index + 1} of the batch"
