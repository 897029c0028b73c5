"""Column names for fields: the field's own name where PostgreSQL can hold it, else a documented mapping.

A PostgreSQL identifier holds at most 63 bytes (``NAMEDATALEN - 1``: a longer one is
cut, silently) and no NUL; a zero-length quoted identifier is a syntax error; and
``tableoid``, ``xmin``, ``cmin``, ``xmax``, ``cmax`` and ``ctid`` name system columns.
A field whose name is none of these gets a column of exactly that name (quoted, so
case and keywords are kept: ``Id`` and ``id`` are two columns). Any other field's
column is :func:`column_name`:

    the name with each NUL replaced by ``_``, cut to 54 bytes on a UTF-8 character
    boundary, then ``_`` and the first 8 hex digits of the SHA-256 of the name (UTF-8)

so at most 63 bytes, and the same for the same name in every run and table. Each such
column is recorded in the ledger's ``dailyfetch.column_names`` (``schema``, ``table``,
``column``, and ``field`` as a JSON string, since a name may hold a NUL that ``text``
cannot) under the destination's name, and described by a comment on the column. Two
fields that would share a column (a hash collision, or a field literally named as
another's mapped column) fail the batch, naming both.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import orjson
import psycopg
from psycopg import sql

from dailyfetch.errors import LoadError

IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1
SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})
_HASH_HEX = 8
_PREFIX_BYTES = IDENTIFIER_BYTES - 1 - _HASH_HEX
_LOOKS_MAPPED = re.compile(r"_[0-9a-f]{8}\Z")


@lru_cache(maxsize=8192)
def column_name(field: str) -> str:
    """The column field ``field``'s values land in (see the module docstring)."""
    if field and "\x00" not in field and field not in SYSTEM_COLUMNS and len(field) <= IDENTIFIER_BYTES // 4:
        return field  # the common case: short enough in any encoding
    raw = field.encode("utf-8", "surrogatepass")
    if field and "\x00" not in field and field not in SYSTEM_COLUMNS and len(raw) <= IDENTIFIER_BYTES:
        return field
    digest = hashlib.sha256(raw).hexdigest()[:_HASH_HEX]
    prefix = field.replace("\x00", "_").encode("utf-8", "surrogatepass")[:_PREFIX_BYTES]
    return prefix.decode("utf-8", "ignore") + "_" + digest  # "ignore": drops a character cut in two


def mapped(fields: Iterable[str]) -> dict[str, str]:
    """The fields among ``fields`` whose column is not their own name, and their columns."""
    return {f: c for f in fields if (c := column_name(f)) != f}


def identifier(field: str) -> sql.Identifier:
    """Field ``field``'s column as a quoted SQL identifier."""
    return sql.Identifier(column_name(field))


def label(field: str) -> str:
    """How an error names a field: its name, with the column it lands in when that differs."""
    column = column_name(field)
    return repr(field) if column == field else f"{field!r} (column {column!r})"


def check_distinct(fields: Iterable[str]) -> None:
    """Raise :class:`LoadError` if two of ``fields`` would land in one column."""
    seen: dict[str, str] = {}
    for field in fields:
        column = column_name(field)
        other = seen.setdefault(column, field)
        if other != field:
            raise _collision(field, other, column)


def _collision(field: str, other: str, column: str) -> LoadError:
    return LoadError(
        f"fields {other!r} and {field!r} would both land in column {column!r}",
        hint="rename one of them in the source (a Python source, or [source] records of another shape)",
    )


def fields_of(
    conn: psycopg.Connection[Any], schema: str, table: str, columns: Mapping[str, str]
) -> dict[str, str]:
    """``columns`` (column name: type) keyed by the field each column holds, per the ledger.

    Only a column whose name ends as a mapped one does (``_`` and 8 hex digits) is
    looked up, so a table of ordinary names costs no query.
    """
    if not any(_LOOKS_MAPPED.search(c) for c in columns):
        return dict(columns)
    owners = _owners(conn, schema, table)
    return {owners.get(c, c): t for c, t in columns.items()}


def _owners(conn: psycopg.Connection[Any], schema: str, table: str) -> dict[str, str]:
    """The ledger's mapped columns of ``schema.table``: column name to field name."""
    found = conn.execute("SELECT to_regclass('dailyfetch.column_names') IS NOT NULL").fetchone()
    if not (found and found[0]):
        return {}
    rows = conn.execute(
        'SELECT "column", field FROM dailyfetch.column_names WHERE schema = %s AND "table" = %s',
        (schema, table),
    ).fetchall()
    return {column: orjson.loads(field) for column, field in rows}


def check_new(new: Iterable[str], existing: Mapping[str, str]) -> None:
    """Raise :class:`LoadError` if a field in ``new`` would land in a column another field holds.

    ``existing`` maps the table's columns to their fields (the ledger's mapping applied).
    """
    new = list(new)
    check_distinct(new)
    for field in new:
        column = column_name(field)
        other = existing.get(column)
        if other is not None and other != field:
            raise _collision(field, other, column)


def register(
    conn: psycopg.Connection[Any], schema: str, table: str, into: str, fields: Iterable[str]
) -> None:
    """Record the mapped columns of ``fields`` (new in ``into``, which becomes ``schema.table``).

    In the ledger (a column already recorded for another field is a collision) and as
    a comment on the column. Runs in the caller's transaction.
    """
    pairs = mapped(fields)
    if not pairs:
        return
    for field, column in pairs.items():
        text = orjson.dumps(field).decode()
        row = conn.execute(
            """
            INSERT INTO dailyfetch.column_names (schema, "table", "column", field) VALUES (%s, %s, %s, %s)
            ON CONFLICT (schema, "table", "column") DO UPDATE SET field = dailyfetch.column_names.field
            RETURNING field
            """,
            (schema, table, column, text),
        ).fetchone()
        if row is not None and row[0] != text:
            raise _collision(field, orjson.loads(row[0]), column)
        comment = f"dailyfetch: the values of field {text}"
        conn.execute(
            sql.SQL("COMMENT ON COLUMN {} IS {}").format(
                sql.Identifier(schema, into, column), sql.Literal(comment)
            )
        )
