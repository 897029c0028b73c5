"""Columns from data: infer PostgreSQL types from JSON values, and check values fit.

Inference (for a column seen for the first time):

=======================  ====================
JSON values seen          column type
=======================  ====================
integers                  ``bigint``
integers, one past it     ``numeric``
floats (or int+float)     ``double precision``
int+float, an int past    ``numeric``
2**53 (a double rounds)
booleans                  ``boolean``
strings                   ``text``
objects / arrays          ``jsonb``
a mix of the above        ``jsonb`` (lossless)
only nulls                no column yet
=======================  ====================

Declared types (``[destination.columns]``) win. A value whose JSON type a
column cannot hold without coercion (a string in a ``bigint`` column, a float
in a ``bigint``, a number in a ``text`` column) is an error naming the column
and the row's key: nothing is silently dropped or converted. So is an integer that
its column cannot hold exactly (beyond ``bigint``; beyond 2**53 in a ``double
precision`` column, 2**24 in a ``real`` one), with the ``ALTER TABLE`` that widens
the column to ``numeric``: an integer never silently becomes a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from itertools import chain, repeat
from operator import is_not, itemgetter
from typing import Any

from dailyfetch.errors import LoadError
from dailyfetch.load.names import column_name
from dailyfetch.redact import clip

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
    "numeric": frozenset({int, float, str}),  # declared: PostgreSQL parses a string ("12.50")
    "number": frozenset({int, float}),  # numeric made by dailyfetch for big integers: numbers only
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


def infer_type(types: Iterable[type], values: Sequence[Any] | None = None) -> str | None:
    """The column type for a set of observed Python value types (``None`` if only nulls).

    With ``values`` (the field's values), integers that ``bigint`` (or, beside floats,
    a double) cannot hold exactly make the column ``numeric``.
    """
    seen = {t for t in types if t is not type(None)}
    if not seen:
        return None
    if seen == {bool}:
        return "boolean"
    if seen == {int}:
        return "bigint" if values is None or _fits_bigint(values) else "numeric"
    if seen <= {int, float}:
        return "double precision" if values is None or _exact_in_double(values, _DOUBLE_EXACT) else "numeric"
    if seen == {str}:
        return "text"
    return "jsonb"


_DOUBLE_EXACT = 2**53  # every integer up to this magnitude is a double exactly; 2**53 + 1 is not
_EXACT_LIMIT = {"double precision": _DOUBLE_EXACT, "real": 2**24}
_not_none = partial(is_not, None)


def _fits_bigint(values: Sequence[Any]) -> bool:
    """Whether the integers (and nulls) ``values`` all fit ``bigint``."""
    present = list(filter(_not_none, values))
    return not present or (min(present) >= -(2**63) and max(present) < 2**63)


def _exact_in_double(values: Sequence[Any], limit: int) -> bool:
    """Whether no integer among ``values`` (numbers and nulls) is beyond ``limit`` in magnitude.

    A pass in C over the types first (most such columns hold only floats: nothing to
    check), then one over the magnitudes: only a batch with a value beyond ``limit`` (a
    float there is fine) is looked at value by value.
    """
    if int not in set(map(type, values)):
        return True
    try:
        if max(map(abs, filter(None, values)), default=0) <= limit:
            return True
    except TypeError:  # not all numbers: the type checks name the value
        return True
    return not any(type(v) is int and not -limit <= v <= limit for v in values)


def values_of(records: Sequence[dict[str, Any]], name: str) -> Sequence[Any]:
    """Field ``name``'s value in each record (``None`` where it has none), for a field that is not
    ``jsonb``'s (typed records give their columns, a ``jsonb`` one as text)."""
    typed = getattr(records, "columns", None)
    if typed is not None:
        return typed().get(name, ())  # type: ignore[no-any-return]
    return list(map(dict.get, records, repeat(name)))


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
    values = field_values(records)
    observed = observe(records, values)
    families: dict[str, str | None] = {}
    for name, types in observed.items():
        column = values[name] if values is not None else values_of(records, name)
        pg_type = columns.get(name) or declared.get(name) or infer_type(types, column)
        families[name] = family(pg_type) if pg_type else None
        if families[name] == "numeric" and name not in declared:
            families[name] = "number"
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


def find_inexact_int(
    records: Sequence[dict[str, Any]],
    name: str,
    pg_type: str,
    columns: Mapping[str, str],
    primary_key: Sequence[str],
) -> BadValueError | None:
    """The first integer of field ``name`` its ``pg_type`` (a float type) would round, as an error."""
    limit = _EXACT_LIMIT.get(pg_type, _DOUBLE_EXACT)
    values = values_of(records, name)
    if _exact_in_double(values, limit):
        return None
    index = next(i for i, v in enumerate(values) if type(v) is int and not -limit <= v <= limit)
    record = records[index]
    return BadValueError(
        f"column {name!r} ({pg_type}) cannot store {values[index]} exactly (it would round it)"
        f" in row {describe_key(record, primary_key, index)}",
        index=index,
        hint=_widen(columns, name),
    )


def find_string_number(
    records: Sequence[dict[str, Any]], name: str, pg_type: str, primary_key: Sequence[str]
) -> BadValueError | None:
    """The first string of field ``name`` bound for a ``numeric`` column that was not declared."""
    values = values_of(records, name)
    index = next((i for i, v in enumerate(values) if type(v) is str), None)
    if index is None:
        return None
    return BadValueError(
        f"column {name!r} ({pg_type}) cannot store a JSON string ({_short(values[index])}) in row "
        f"{describe_key(records[index], primary_key, index)}",
        index=index,
        hint=f"declare {name!r} = 'numeric' in [destination.columns] to have PostgreSQL parse numbers "
        "sent as strings, or fix the source",
    )


def _widen(columns: Mapping[str, str], name: str) -> str:
    """Advice that works for an integer its column cannot hold: the statement that widens it."""
    table = getattr(columns, "qualified", "") or "<the table>"
    ident = '"' + column_name(name).replace('"', '""') + '"'
    return f"widen the column to numeric and run again: ALTER TABLE {table} ALTER COLUMN {ident} TYPE numeric"


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
                widen = problem.endswith("(out of range)") and family(pg_type) == "integer"
                return BadValueError(
                    f"column {name!r} ({pg_type}) cannot store {problem} in row {describe_key(record, primary_key, index)}",
                    index=index,
                    hint=_widen(columns, name)
                    if widen
                    else "declare the column's type in [destination.columns] or fix the source",
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
    """Whether a string in ``value`` (a key or a value, at any depth) holds a NUL."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _short(value: Any) -> str:
    text = repr(value)
    return clip(text, 40)  # redacted before it is cut: no secret's head is left


def describe_key(record: dict[str, Any], primary_key: Sequence[str], index: int) -> str:
    """How to name a row in an error: its primary key, or its position in the batch."""
    if primary_key:
        return ", ".join(f"{k}={record.get(k)!r}" for k in primary_key)
    return f"#{index + 1} of the batch"
