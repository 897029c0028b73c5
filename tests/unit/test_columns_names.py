"""The documented field-to-column mapping: the name itself where PostgreSQL holds it, else cut + hash."""

from __future__ import annotations

import hashlib

import pytest

from dailyfetch.errors import LoadError
from dailyfetch.load.names import check_distinct, check_new, column_name, mapped


@pytest.mark.parametrize("name", ["id", "Id", "select", "a b", "ü" * 31, "x" * 63, "oid", "_dailyfetch_x"])
def test_a_name_postgresql_holds_is_its_own_column(name: str) -> None:
    """Up to 63 bytes, no NUL, not empty and not a system column: the column is the field's name."""
    assert column_name(name) == name


@pytest.mark.parametrize(
    "name", ["x" * 64, "ü" * 32, "ключ" * 10, "k\x00ey", "\x00", "", "xmin", "ctid", "tableoid", "🚀" * 16]
)
def test_a_name_postgresql_cannot_hold_is_cut_and_hashed(name: str) -> None:
    """The documented form: NUL as '_', at most 54 bytes on a character boundary, '_', 8 hex of SHA-256."""
    column = column_name(name)
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    prefix = name.replace("\x00", "_")
    assert column.endswith("_" + digest) and len(column.encode()) <= 63 and "\x00" not in column
    kept = column[: -len(digest) - 1]
    assert prefix.startswith(kept) and len(kept.encode()) <= 54
    if len(prefix.encode()) <= 54:
        assert kept == prefix
    else:
        assert len(kept.encode()) > 54 - 4  # cut no further than the character 54 bytes fall in


def test_names_sharing_63_bytes_get_distinct_columns() -> None:
    """Two names PostgreSQL would cut to the same 63 bytes land in two columns."""
    a, b = "a" * 64 + "_first", "a" * 64 + "_second"
    assert column_name(a) != column_name(b)
    assert mapped([a, "id"]) == {a: column_name(a)}


def test_a_field_named_as_another_fields_column_is_a_collision_naming_both() -> None:
    """'xmin' maps to xmin_<hash>; a field literally called that meets it there, in a batch or a table."""
    other = column_name("xmin")
    with pytest.raises(LoadError, match=r"'xmin'.*'xmin_[0-9a-f]{8}'"):
        check_distinct(["xmin", other])
    with pytest.raises(LoadError, match="would both land"):
        check_new([other], {other: "xmin"})
    check_new(["xmin"], {other: "xmin"})  # the same field again: no collision
