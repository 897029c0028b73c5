"""Write a batch in one transaction: binary COPY of new rows, else set-based statements.

New rows (append and replace, and merge until a batch meets an existing key) go in
by binary ``COPY`` of the values typed in Python (:mod:`.copy_rows`), when every
column has a type dailyfetch infers. Anything COPY cannot take, or a key already
present, rolls back to a savepoint and the batch takes the set-based way:

When the batch is exactly the records of the pages it came in, each raw response
body is bound as the parameter of one ``INSERT ... SELECT`` over
``jsonb_array_elements`` of its records, and the statements are pipelined. Otherwise
(records skipped, de-duplicated or made by a Python source) the batch is COPY'd as
one JSON document per line into a transaction-scoped temporary table (``ON COMMIT
DROP``, so nothing depends on session state and a transaction-pooling PgBouncer is
fine) and moved from there. Either way each field is cast to its column type in SQL,
so PostgreSQL parses declared types (timestamps, numerics) and names a value it
refuses. In ``merge`` mode the insert is an upsert on the primary key, tried as a
plain insert first. The caller commits the batch together with the partition's
progress.

All identifiers are quoted with :class:`psycopg.sql.Identifier`; all field names
inside JSON lookups are bound as literals. Nothing from the data is spliced
into SQL as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import postgres, sql
from psycopg.abc import Buffer
from psycopg.adapt import Dumper
from psycopg.pq import Format

from dailyfetch import jsontext
from dailyfetch.errors import LoadError
from dailyfetch.load import columns as cols
from dailyfetch.load import copy_rows
from dailyfetch.load.keys import dedupe
from dailyfetch.load.names import column_name, identifier
from dailyfetch.load.table import (
    DATE_COLUMN,
    JOB_COLUMN,
    PARTITION_COLUMN,
    WINDOW_COLUMN,
    AppendTags,
    TableColumns,
    TableSpec,
    WriteMode,
    bookkeeping_missing,
    claim_table,
    delete_partition_rows,
    has_unique_key,
    prepare_table,
    read_columns,
    read_fields,
    refuse_bookkeeping_fields,
)

__all__ = [
    "DATE_COLUMN",
    "JOB_COLUMN",
    "PARTITION_COLUMN",
    "WINDOW_COLUMN",
    "AppendTags",
    "PageBody",
    "RawPages",
    "TableColumns",
    "TableSpec",
    "WriteMode",
    "bookkeeping_missing",
    "check_values",
    "claim_table",
    "dedupe",
    "delete_partition_rows",
    "field_cast",
    "has_unique_key",
    "prepare_table",
    "read_columns",
    "read_fields",
    "write_batch",
]

_STAGE = sql.Identifier("_dailyfetch_stage")


def check_values(
    records: Sequence[dict[str, Any]],
    observed: dict[str, set[type]],
    columns: dict[str, str],
    primary_key: Sequence[str],
) -> None:
    """Raise :class:`LoadError` naming the column and row of the first value that does not fit.

    Beside the types (checked per column), an integer bound for a ``double precision``
    or ``real`` column must be one that type holds exactly: ``9007199254740993`` would
    be stored as ``...992``. And a string bound for a ``numeric`` column is refused unless the
    column is declared (dailyfetch makes one ``numeric`` for big integers, not to parse strings).
    """
    if any(cols.incompatible(columns[k], t) for k, t in observed.items() if k in columns):
        error = cols.find_bad_value(records, columns, primary_key)
        if error is not None:
            raise error
    declared = getattr(columns, "declared", None)  # a TableColumns' (not a plain dict's)
    for name, types in observed.items():
        pg_type = columns.get(name)
        if pg_type is None:
            continue
        error = None
        if int in types and cols.family(pg_type) == "float":
            error = cols.find_inexact_int(records, name, pg_type, columns, primary_key)
        elif (
            str in types
            and declared is not None
            and name not in declared
            and cols.family(pg_type) == "numeric"
        ):
            error = cols.find_string_number(records, name, pg_type, primary_key)
        if error is not None:
            raise error


def json_key(name: str) -> str:
    """The key field ``name`` has in a record sent as ``jsonb``: its own, or (``jsonb`` holds no NUL)
    its column's name (see :func:`jsonb_record`)."""
    return column_name(name) if "\x00" in name else name


def jsonb_record(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as ``jsonb`` can hold it: each key holding a NUL renamed to its :func:`json_key`."""
    return {json_key(k) if "\x00" in k else k: v for k, v in record.items()}


def field_cast(name: str, pg_type: str) -> sql.Composable:
    """The SQL expression that reads field ``name`` of ``doc`` (a jsonb record) as ``pg_type``."""
    field_ = sql.Literal(json_key(name))
    fam = cols.family(pg_type)
    if fam == "json":
        expr = sql.SQL("NULLIF(doc -> {}, 'null'::jsonb)").format(field_)
        return expr if pg_type.startswith("jsonb") else sql.SQL("({})::json").format(expr)
    if fam == "text" and pg_type == "text":
        return sql.SQL("doc ->> {}").format(field_)
    return sql.SQL("(doc ->> {})::{}").format(field_, sql.SQL(pg_type))


class PageBody(bytes):
    """A response body, bound as a ``jsonb`` parameter exactly as it came (no decode, no re-encode)."""


class _PageBodyDumper(Dumper):
    """Binary ``jsonb`` is a version byte (1) and the JSON text: PostgreSQL parses it as usual."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: Buffer) -> Buffer:
        return b"\x01" + bytes(obj)


psycopg.adapters.register_dumper(PageBody, _PageBodyDumper)


def write_batch(
    conn: psycopg.Connection[Any],
    spec: TableSpec,
    into: str,
    records: Sequence[dict[str, Any]],
    columns: dict[str, str],
    names: Sequence[str],
    *,
    tags: AppendTags | None = None,
    pages: RawPages | None = None,
    by_field: cols.Columns | None = None,
) -> int:
    """Move the batch into ``into`` with set-based statements; return the rows written.

    ``names`` are the fields present in this batch. ``tags`` are append mode's
    bookkeeping values. With ``pages`` (the raw bodies the records were parsed from,
    all of them and nothing else), each body is sent as it came, as the parameter of
    one ``INSERT ... SELECT`` over its records (pipelined), which spares re-encoding
    every record and a staging table. Otherwise the records are COPY'd into a staging
    table first. In merge mode a plain ``INSERT`` is tried first (see
    :attr:`TableSpec.expect_new`). Must run inside the caller's transaction.
    """
    if not records:
        return 0
    if tags is not None:
        refuse_bookkeeping_fields(spec, names)
    keyed = spec.mode != "append" and bool(spec.primary_key)
    if spec.expect_new or not keyed:
        tag_values = tags.columns() if tags is not None else []
        copied = copy_rows.try_copy(conn, spec.qualified(into), records, columns, names, tag_values, by_field)
        if copied == "copied":
            return len(records)
        if copied == "known key" and keyed:
            spec.expect_new = False  # as in _insert_new: upserts from now on
    targets = [identifier(n) for n in names]
    values: list[sql.Composable] = [field_cast(n, columns[n]) for n in names]
    for column, value in tags.columns() if tags is not None else []:
        targets.append(sql.Identifier(column))
        values.append(sql.Literal(value))
    head = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM ").format(
        spec.qualified(into), sql.SQL(", ").join(targets), sql.SQL(", ").join(values)
    )
    upsert = _conflict_clause(spec, names)  # empty unless merging on a key
    if pages is not None and any(b"\\u0000" in body for body in pages.bodies):
        pages = None  # jsonb holds no NUL: the records go through the staging table, keys renamed
    if pages is None:
        _stage(conn, records)
        plain: Statement = (head + _STAGE, None)
        merged: Statement = (head + _STAGE + upsert, None)
    else:
        # Names in the SQL may hold '%': escape them, then add the two placeholders.
        source = b"jsonb_array_elements(%b #> %s::text[]) AS batch(doc)"
        escaped_head = head.as_bytes(conn).replace(b"%", b"%%")
        params = [(PageBody(body), pages.path) for body in pages.bodies]
        plain = (escaped_head + source, params)
        merged = (escaped_head + source + upsert.as_bytes(conn).replace(b"%", b"%%"), params)
    if not (keyed and spec.expect_new and _insert_new(conn, spec, plain)):
        _execute(conn, merged)
    if pages is None:
        conn.execute(sql.SQL("DROP TABLE {}").format(_STAGE))
    return len(records)


Statement = tuple[sql.Composed | bytes, list[tuple[PageBody, list[str]]] | None]


def _insert_new(conn: psycopg.Connection[Any], spec: TableSpec, plain: Statement) -> bool:
    """Try the batch as a plain INSERT in a savepoint; ``False`` (and upserts from now on) on a known key.

    Most daily batches hold only new keys, and a plain INSERT spares PostgreSQL the
    speculative insertion of an upsert.
    """
    try:
        with conn.transaction():
            _execute(conn, plain)
    except psycopg.errors.UniqueViolation:
        spec.expect_new = False
        return False
    return True


def _execute(conn: psycopg.Connection[Any], statement: Statement) -> None:
    query, params = statement
    if params is None:
        conn.execute(query)
    else:
        with conn.cursor() as cur:
            cur.executemany(query, params)


def _stage(conn: psycopg.Connection[Any], records: Sequence[dict[str, Any]]) -> None:
    """COPY ``records`` as one JSON document a line into a transaction-scoped staging table."""
    try:
        lines = b"\n".join(map(jsontext.dumps, records))
        if b"\\u0000" in lines:  # a NUL, perhaps in a key: jsonb holds none
            lines = b"\n".join(jsontext.dumps(jsonb_record(r)) for r in records)
    except TypeError as exc:
        raise LoadError(f"a record cannot be serialised for COPY: {exc}") from None
    payload = lines.replace(b"\\", b"\\\\") + b"\n"
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (doc jsonb) ON COMMIT DROP").format(_STAGE))
    with conn.cursor().copy(sql.SQL("COPY {} (doc) FROM STDIN").format(_STAGE)) as copy:
        copy.write(payload)


def _conflict_clause(spec: TableSpec, names: Sequence[str]) -> sql.Composable:
    if spec.mode == "append" or not spec.primary_key:
        return sql.SQL("")
    keys = sql.SQL(", ").join(map(identifier, spec.primary_key))
    updates = [n for n in names if n not in spec.primary_key]
    if not updates:
        return sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(keys)
    assignments = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(identifier(n)) for n in updates)
    return sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(keys, assignments)


@dataclass
class RawPages:
    """Response bodies whose records, at ``path`` in each, are exactly a batch's records."""

    bodies: list[bytes]
    path: list[str]
