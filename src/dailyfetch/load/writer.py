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
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Literal

import orjson
import psycopg
from psycopg import postgres, sql
from psycopg.abc import Buffer
from psycopg.adapt import Dumper
from psycopg.pq import Format

from dailyfetch.errors import LoadError, SourceError
from dailyfetch.load import columns as cols
from dailyfetch.load import copy_rows

DATE_COLUMN = "_dailyfetch_date"
PARTITION_COLUMN = "_dailyfetch_partition"
WINDOW_COLUMN = "_dailyfetch_window"  # append mode with sub-day windows: the window's start
_STAGE = sql.Identifier("_dailyfetch_stage")
WriteMode = Literal["merge", "append", "replace"]


@dataclass
class TableSpec:
    """Where and how a job writes."""

    schema: str
    table: str
    primary_key: list[str]
    mode: WriteMode
    declared: dict[str, str] = field(default_factory=dict)
    # Merge mode: try a plain INSERT first, while no batch has met an existing key (see write_batch).
    expect_new: bool = True
    # Append mode with sub-day windows: rows also carry their window's start (WINDOW_COLUMN).
    sub_day: bool = False

    @property
    def window_column(self) -> bool:
        """Whether append bookkeeping includes :data:`WINDOW_COLUMN`."""
        return self.mode == "append" and self.sub_day

    def qualified(self, table: str | None = None) -> sql.Identifier:
        """``"schema"."table"`` as a quoted SQL identifier."""
        return sql.Identifier(self.schema, table or self.table)


@dataclass(frozen=True)
class AppendTags:
    """Append mode's bookkeeping values for one partition of one run."""

    logical_date: Any
    partition: str
    window_start: Any = None  # sub-day windows: the window's start (local wall time)

    def columns(self) -> list[tuple[str, Any]]:
        """The bookkeeping columns and their values."""
        out = [(DATE_COLUMN, self.logical_date), (PARTITION_COLUMN, self.partition)]
        if self.window_start is not None:
            out.append((WINDOW_COLUMN, self.window_start))
        return out


def read_columns(conn: psycopg.Connection[Any], schema: str, table: str) -> dict[str, str] | None:
    """The table's columns and their types, or ``None`` when it does not exist."""
    rows = conn.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relkind IN ('r', 'p')
        ORDER BY a.attnum
        """,
        (schema, table),
    ).fetchall()
    return {name: pg_type for name, pg_type in rows} or None


def has_unique_key(conn: psycopg.Connection[Any], spec: TableSpec, into: str) -> bool:
    """Whether ``into`` has a unique index on exactly the primary key's columns."""
    row = conn.execute(
        """
        SELECT EXISTS (
            SELECT 1 FROM pg_index i
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s AND i.indisunique AND i.indpred IS NULL
              AND i.indexprs IS NULL
              AND ARRAY(SELECT a.attname::text FROM pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attnum = ANY(i.indkey::int2[]) ORDER BY 1)
                  = %s::text[]
        )
        """,
        (spec.schema, into, sorted(spec.primary_key)),
    ).fetchone()
    return bool(row and row[0])


def prepare_table(
    conn: psycopg.Connection[Any],
    spec: TableSpec,
    into: str,
    observed: dict[str, set[type]],
) -> dict[str, str]:
    """Create ``into`` or add the columns ``observed`` needs; return its columns.

    Runs in its own short transaction under a transaction-level advisory lock,
    so concurrent workers agree on the schema without deadlocking.
    """
    wanted: dict[str, str] = {}
    for name, types in observed.items():
        pg_type = spec.declared.get(name) or cols.infer_type(types)
        if pg_type is not None:
            wanted[name] = pg_type
    for key in spec.primary_key:
        wanted.setdefault(key, spec.declared.get(key, "text"))
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"dailyfetch:{spec.schema}.{into}",))
        existing = read_columns(conn, spec.schema, into)
        if existing is None:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(spec.schema)))
            conn.execute(_create_table_sql(spec, into, wanted))
        else:
            missing = {k: v for k, v in wanted.items() if k not in existing}
            if spec.window_column and WINDOW_COLUMN not in existing:  # a daily append table turned hourly
                missing[WINDOW_COLUMN] = "timestamp"
            if missing:
                alters = sql.SQL(", ").join(
                    sql.SQL("ADD COLUMN IF NOT EXISTS {} {}").format(sql.Identifier(k), sql.SQL(v))
                    for k, v in missing.items()
                )
                conn.execute(sql.SQL("ALTER TABLE {} ").format(spec.qualified(into)) + alters)
        columns = read_columns(conn, spec.schema, into)
    assert columns is not None
    return columns


def _create_table_sql(spec: TableSpec, into: str, wanted: dict[str, str]) -> sql.Composed:
    parts = [sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(v)) for k, v in wanted.items()]
    if spec.mode == "append":
        parts.append(sql.SQL("{} date NOT NULL").format(sql.Identifier(DATE_COLUMN)))
        parts.append(sql.SQL("{} text NOT NULL").format(sql.Identifier(PARTITION_COLUMN)))
        if spec.window_column:
            parts.append(sql.SQL("{} timestamp").format(sql.Identifier(WINDOW_COLUMN)))
    if spec.primary_key and spec.mode != "append":
        keys = sql.SQL(", ").join(sql.Identifier(k) for k in spec.primary_key)
        parts.append(sql.SQL("PRIMARY KEY ({})").format(keys))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
        spec.qualified(into), sql.SQL(", ").join(parts)
    )


def check_values(
    records: Sequence[dict[str, Any]],
    observed: dict[str, set[type]],
    columns: dict[str, str],
    primary_key: Sequence[str],
) -> None:
    """Raise :class:`LoadError` naming the column and row of the first value that does not fit."""
    if any(cols.incompatible(columns[k], t) for k, t in observed.items() if k in columns):
        error = cols.find_bad_value(records, columns, primary_key)
        if error is not None:
            raise error


def dedupe(records: Sequence[dict[str, Any]], primary_key: Sequence[str]) -> list[dict[str, Any]]:
    """Keep the last record for each primary key; a record without its key is an error."""
    try:
        if len(primary_key) == 1:
            (name,) = primary_key
            single = dict(zip(map(itemgetter(name), records), records, strict=True))
            if None not in single:
                return list(records) if len(single) == len(records) else list(single.values())
        else:
            latest = {tuple(record[k] for k in primary_key): record for record in records}
            if not any(None in key for key in latest):
                return list(latest.values())
    except (KeyError, TypeError):
        pass
    _explain_bad_key(records, primary_key)
    raise AssertionError("unreachable")  # pragma: no cover


def _explain_bad_key(records: Sequence[dict[str, Any]], primary_key: Sequence[str]) -> None:
    for index, record in enumerate(records):
        missing = [k for k in primary_key if k not in record]
        if missing:
            raise SourceError(
                f"record #{index + 1} of the batch has no primary key field {missing[0]!r}",
                hint="check [destination].primary_key against the records",
            )
        key = tuple(record[k] for k in primary_key)
        if None in key:
            raise SourceError(
                f"record #{index + 1} of the batch has a null primary key {dict(zip(primary_key, key, strict=True))}"
            )
        try:
            hash(key)
        except TypeError:
            raise SourceError(
                f"record #{index + 1} of the batch has a primary key that is not a scalar"
            ) from None


def field_cast(name: str, pg_type: str) -> sql.Composable:
    """The SQL expression that reads field ``name`` of ``doc`` (a jsonb record) as ``pg_type``."""
    field_ = sql.Literal(name)
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
    keyed = spec.mode != "append" and bool(spec.primary_key)
    if spec.expect_new or not keyed:
        tag_values = tags.columns() if tags is not None else []
        copied = copy_rows.try_copy(conn, spec.qualified(into), records, columns, names, tag_values, by_field)
        if copied == "copied":
            return len(records)
        if copied == "known key" and keyed:
            spec.expect_new = False  # as in _insert_new: upserts from now on
    targets = [sql.Identifier(n) for n in names]
    values: list[sql.Composable] = [field_cast(n, columns[n]) for n in names]
    for column, value in tags.columns() if tags is not None else []:
        targets.append(sql.Identifier(column))
        values.append(sql.Literal(value))
    head = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM ").format(
        spec.qualified(into), sql.SQL(", ").join(targets), sql.SQL(", ").join(values)
    )
    upsert = _conflict_clause(spec, names)  # empty unless merging on a key
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
        payload = b"\n".join(map(orjson.dumps, records)).replace(b"\\", b"\\\\") + b"\n"
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise LoadError(f"a record cannot be serialised for COPY: {exc}") from None
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (doc jsonb) ON COMMIT DROP").format(_STAGE))
    with conn.cursor().copy(sql.SQL("COPY {} (doc) FROM STDIN").format(_STAGE)) as copy:
        copy.write(payload)


def _conflict_clause(spec: TableSpec, names: Sequence[str]) -> sql.Composable:
    if spec.mode == "append" or not spec.primary_key:
        return sql.SQL("")
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in spec.primary_key)
    updates = [n for n in names if n not in spec.primary_key]
    if not updates:
        return sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(keys)
    assignments = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in updates)
    return sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(keys, assignments)


@dataclass
class RawPages:
    """Response bodies whose records, at ``path`` in each, are exactly a batch's records."""

    bodies: list[bytes]
    path: list[str]


def delete_partition_rows(
    conn: psycopg.Connection[Any], spec: TableSpec, into: str, tags: AppendTags
) -> None:
    """Append mode: remove rows an earlier attempt wrote for this window and partition."""
    existing = read_columns(conn, spec.schema, into)
    if existing is None:
        return
    where = [(c, v) for c, v in tags.columns() if c in existing]
    if len(where) < len(tags.columns()):  # no window column yet: no row of this window can exist
        return
    # Values as literals, not parameters: a '%' in a table name must not read as a placeholder.
    conditions = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Literal(v)) for c, v in where
    )
    conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(spec.qualified(into), conditions))
