"""Unit tests for column type inference, value checks and primary-key dedupe."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dailyfetch.errors import LoadError, SourceError
from dailyfetch.load import columns as cols
from dailyfetch.load.columns import family, field_values, find_bad_value, incompatible, infer_type, observe
from dailyfetch.load.writer import dedupe

NoneType = type(None)


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ({int}, "bigint"),
        ({float}, "double precision"),
        ({int, float}, "double precision"),
        ({bool}, "boolean"),
        ({str}, "text"),
        ({dict}, "jsonb"),
        ({list}, "jsonb"),
        ({dict, list}, "jsonb"),
        ({bool, int}, "jsonb"),
        ({bool, float}, "jsonb"),
        ({int, str}, "jsonb"),
        ({str, dict}, "jsonb"),
        ({int, NoneType}, "bigint"),
        ({bool, NoneType}, "boolean"),
        ({NoneType}, None),
        (set(), None),
    ],
)
def test_infer_type(types: set[type], expected: str | None) -> None:
    """Each set of JSON value types maps to the documented column type; bool is not int."""
    assert infer_type(types) == expected


def test_observe() -> None:
    """observe collects, per field in first-seen order, every Python type its values have; absent is null."""
    records = [
        {"id": 1, "name": "a", "tags": ["x"]},
        {"id": 2, "name": None, "extra": {"k": 1}},
        {"id": 3.5, "name": "c", "flag": True},
    ]
    seen = observe(records)
    assert seen == {
        "id": {int, float},
        "name": {str, NoneType},
        "tags": {list, NoneType},
        "extra": {dict, NoneType},
        "flag": {bool, NoneType},
    }
    assert list(seen) == ["id", "name", "tags", "extra", "flag"]
    assert observe([]) == {}


def _by_lookup(records: list[Any]) -> dict[str, list[Any]]:
    """field_values' contract, spelled out one lookup at a time."""
    names = list(dict.fromkeys(name for record in records for name in record))
    return {name: [record.get(name) for record in records] for name in names}


@pytest.mark.parametrize(
    "records",
    [
        [{"a": 1, "b": "x"}, {"a": 2, "b": None}],  # uniform: the itemgetter path
        [{"a": 1, "b": "x"}, {"b": "y", "a": 2}],  # the same fields in another order
        [{"a": 1, "b": "x"}, {"a": 2, "c": "y"}],  # same length, another field
        [{"a": 1, "b": "x"}, {"a": 2}],  # a field missing
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y", "c": 3}],  # a field more
        [{"a": 1}, {"a": 2}],  # one field
        [{"a": 1, "b": 2}],
        [],
    ],
)
def test_field_values(records: list[Any]) -> None:
    """Each field's values in record order, None where a record lacks it, fields in first-seen order."""
    got = field_values(records)
    assert got is not None
    assert {name: list(column) for name, column in got.items()} == _by_lookup(records)
    assert list(got) == list(_by_lookup(records))


@settings(deadline=None)  # the first example pays for warming up; a deadline made it flaky
@given(
    st.lists(
        st.dictionaries(st.sampled_from("abcd"), st.none() | st.integers() | st.text(max_size=3), max_size=4),
        max_size=6,
    )
)
def test_field_values_matches_lookups(records: list[dict[str, Any]]) -> None:
    """Whatever mix of fields the records have, the fast path and the lookups agree."""
    got = field_values(records)
    assert got is not None
    assert {name: list(column) for name, column in got.items()} == _by_lookup(records)


@pytest.mark.parametrize(
    ("pg_type", "types", "rejected"),
    [
        ("bigint", {int, NoneType}, set()),
        ("bigint", {int, float, bool, str}, {float, bool, str}),
        ("integer", {bool}, {bool}),
        ("double precision", {int, float}, set()),
        ("double precision", {bool}, {bool}),
        ("numeric(12, 2)", {int, float, str}, set()),
        ("boolean", {bool, int}, {int}),
        ("text", {str, int, dict}, {int, dict}),
        ("character varying(20)", {str}, set()),
        ("jsonb", {dict, list, str, int, float, bool}, set()),
        ("timestamp with time zone", {str, int}, {int}),
        ("uuid", {str}, set()),
    ],
)
def test_incompatible(pg_type: str, types: set[type], rejected: set[type]) -> None:
    """A column rejects exactly the JSON types it cannot hold without coercion."""
    assert incompatible(pg_type, types) == rejected


@pytest.mark.parametrize(
    ("pg_type", "expected"),
    [
        ("bigint", "integer"),
        ("smallint", "integer"),
        ("real", "float"),
        ("numeric(10,2)", "numeric"),
        ("character varying(5)", "text"),
        ("json", "json"),
        ("date", "parsed"),
    ],
)
def test_family(pg_type: str, expected: str) -> None:
    """format_type names are grouped into families, ignoring type modifiers."""
    assert family(pg_type) == expected


def bad(records: list[dict[str, Any]], columns: dict[str, str], pk: list[str]) -> str:
    """The message of the LoadError find_bad_value returns."""
    error = find_bad_value(records, columns, pk)
    assert isinstance(error, LoadError)
    return str(error)


def test_find_bad_value_names_column_and_key() -> None:
    """A float in a bigint column names the column, its type, the value and the row's key."""
    records = [{"id": 6, "n": 1}, {"id": 7, "n": 1.5}]
    message = bad(records, {"id": "bigint", "n": "bigint"}, ["id"])
    assert message.startswith("column 'n' (bigint) cannot store a JSON number (1.5) in row id=7")
    assert "[destination.columns]" in message


def test_find_bad_value_composite_key_and_position() -> None:
    """Rows are named by every primary key field, or by position without a key."""
    records = [{"day": "2026-01-01", "site": "a", "v": "x"}]
    assert "in row day='2026-01-01', site='a'" in bad(records, {"v": "bigint"}, ["day", "site"])
    assert "in row #2 of the batch" in bad([{"v": 1}, {"v": "x"}], {"v": "bigint"}, [])


def test_bool_is_not_an_integer() -> None:
    """A boolean in a bigint column is rejected rather than stored as 0 or 1."""
    assert "a JSON boolean (True)" in bad([{"id": 1, "n": True}], {"n": "bigint"}, ["id"])


def test_find_bad_value_accepts_fitting_values() -> None:
    """Values that fit, nulls and undeclared columns are no problem."""
    records = [
        {"id": 1, "n": 2**63 - 1, "x": 2.5, "t": "ok", "j": {"a": [1]}, "u": None, "new": 1.5},
        {"id": 2, "n": -(2**63), "x": 3, "t": "", "j": "s", "u": None},
    ]
    columns = {"id": "bigint", "n": "bigint", "x": "double precision", "t": "text", "j": "jsonb"}
    assert find_bad_value(records, columns | {"u": "bigint"}, ["id"]) is None


@pytest.mark.parametrize(
    ("pg_type", "value"),
    [("bigint", 2**63), ("bigint", -(2**63) - 1), ("integer", 2**31), ("smallint", -(2**15) - 1)],
)
def test_out_of_range_integer(pg_type: str, value: int) -> None:
    """An integer beyond the column's range is named as out of range."""
    message = bad([{"id": 1, "n": value}], {"n": pg_type}, ["id"])
    assert f"column 'n' ({pg_type}) cannot store {value} (out of range) in row id=1" in message


@pytest.mark.parametrize(
    ("pg_type", "value", "what"),
    [
        ("text", "a\x00b", "a string containing a NUL character"),
        ("date", "2026\x00", "a string containing a NUL character"),
        ("jsonb", {"k": ["ok", "b\x00"]}, "a JSON value containing a NUL character"),
        ("jsonb", {"k\x00": 1}, "a JSON value containing a NUL character"),
    ],
)
def test_nul_characters(pg_type: str, value: Any, what: str) -> None:
    """PostgreSQL cannot store NUL in text or jsonb; the value is named before it is sent."""
    assert what in bad([{"id": 1, "v": value}], {"v": pg_type}, ["id"])


def test_long_values_are_shortened() -> None:
    """A long offending value is cut to a short preview in the message."""
    message = bad([{"v": "x" * 500}], {"v": "bigint"}, [])
    assert "x" * 100 not in message
    assert "…" in message  # shortened (redact.clip)


def test_dedupe_keeps_last_record_per_key() -> None:
    """The last record for each primary key wins, in first-seen key order."""
    records = [
        {"id": 1, "v": "old"},
        {"id": 2, "v": "only"},
        {"id": 1, "v": "new"},
    ]
    assert dedupe(records, ["id"]) == [{"id": 1, "v": "new"}, {"id": 2, "v": "only"}]


def test_dedupe_composite_key() -> None:
    """Records are the same only when every primary key field matches."""
    records = [{"a": 1, "b": "x", "v": 1}, {"a": 1, "b": "y", "v": 2}, {"a": 1, "b": "x", "v": 3}]
    assert dedupe(records, ["a", "b"]) == [{"a": 1, "b": "x", "v": 3}, {"a": 1, "b": "y", "v": 2}]


def test_dedupe_missing_key() -> None:
    """A record without its primary key field is an error naming the record and the field."""
    with pytest.raises(SourceError, match=r"record #2 of the batch has no primary key field 'id'"):
        dedupe([{"id": 1}, {"ID": 2}], ["id"])


def test_dedupe_null_key() -> None:
    """A record whose primary key is null is an error naming the record."""
    with pytest.raises(SourceError, match=r"record #1 of the batch has a null primary key"):
        dedupe([{"id": None, "v": 1}], ["id"])


def test_dedupe_unhashable_key() -> None:
    """A primary key that is an object or array is an error, not a TypeError."""
    with pytest.raises(SourceError, match="not a scalar"):
        dedupe([{"id": {"nested": 1}}], ["id"])


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=8),
)


@given(st.lists(json_scalars, max_size=20))
def test_inferred_type_accepts_what_it_was_inferred_from(values: list[Any]) -> None:
    """The type inferred from some values never rejects those same values."""
    types = observe([{"v": value} for value in values]).get("v", set())
    inferred = infer_type(types)
    if inferred is not None:
        assert incompatible(inferred, types) == set()
        records = [{"v": value} for value in values]
        assert find_bad_value(records, {"v": inferred}, []) is None


def test_describe_gives_each_field_the_family_its_column_has_or_will_have() -> None:
    records = [{"a": 1, "b": "x", "c": None, "d": 1.5, "e": "2026-01-01T00:00:00Z", "f": {"k": 1}}]
    fields, families = cols.describe(records, {"a": "double precision"}, {"e": "timestamptz"})
    assert fields == ["a", "b", "c", "d", "e", "f"]
    assert families == {
        "a": "float",  # the table's column wins over the int seen
        "b": "text",
        "c": None,  # only nulls: no column yet
        "d": "float",
        "e": "parsed",  # declared
        "f": "json",
    }
