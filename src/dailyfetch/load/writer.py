"""Write a batch: COPY into a staging table, then one set-based insert or upsert.

Each batch is COPY'd as one JSON document per line into a transaction-scoped
temporary table (``ON COMMIT DROP``, so nothing depends on session state and a
transaction-pooling PgBouncer is fine), then moved into the destination with a
single ``INSERT ... SELECT`` that casts each field to its column type. In
``merge`` mode the insert is an upsert on the primary key. The caller commits
the batch together with the partition's progress.

All identifiers are quoted with :class:`psycopg.sql.Identifier`; all field names
inside JSON lookups are bound as literals. Nothing from the data is spliced
into SQL as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import psycopg
from psycopg import sql

from dailyfetch.errors import LoadError, SourceError
from dailyfetch.load import columns as cols

DATE_COLUMN = "_dailyfetch_date"
PARTITION_COLUMN = "_dailyfetch_partition"
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

    def qualified(self, table: str | None = None) -> sql.Identifier:
        """``"schema"."table"`` as a quoted SQL identifier."""
        return sql.Identifier(self.schema, table or self.table)


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
            single = {record[name]: record for record in records}
            if None not in single:
                return list(single.values())
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


def _cast(name: str, pg_type: str) -> sql.Composable:
    field_ = sql.Literal(name)
    fam = cols.family(pg_type)
    if fam == "json":
        expr = sql.SQL("NULLIF(doc -> {}, 'null'::jsonb)").format(field_)
        return expr if pg_type.startswith("jsonb") else sql.SQL("({})::json").format(expr)
    if fam == "text" and pg_type == "text":
        return sql.SQL("doc ->> {}").format(field_)
    return sql.SQL("(doc ->> {})::{}").format(field_, sql.SQL(pg_type))


def write_batch(
    conn: psycopg.Connection[Any],
    spec: TableSpec,
    into: str,
    records: Sequence[dict[str, Any]],
    columns: dict[str, str],
    names: Sequence[str],
    *,
    tags: tuple[Any, str] | None = None,
    pages: RawPages | None = None,
) -> int:
    """COPY the batch into staging and move it into ``into``; return the rows written.

    ``names`` are the fields present in this batch. ``tags`` is ``(logical_date,
    partition_key)`` for append mode's bookkeeping columns. With ``pages`` (the
    raw bodies the records were parsed from, all of them and nothing else), the
    bodies are COPY'd as they came and PostgreSQL takes the records out of them,
    which spares re-encoding every record. Must run inside the caller's transaction.
    """
    if not records:
        return 0
    source: sql.Composable
    if pages is not None:
        payload = (
            b"\n".join(body.replace(b"\\", b"\\\\").translate(_WHITESPACE) for body in pages.bodies) + b"\n"
        )
        elements = sql.SQL("jsonb_array_elements({}.doc #> {})").format(_STAGE, sql.Literal(pages.path))
        source = sql.SQL("(SELECT e AS doc FROM {}, {} e) AS batch").format(_STAGE, elements)
    else:
        try:
            payload = b"\n".join(map(orjson.dumps, records)).replace(b"\\", b"\\\\") + b"\n"
        except (orjson.JSONEncodeError, TypeError) as exc:
            raise LoadError(f"a record cannot be serialised for COPY: {exc}") from None
        source = _STAGE
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (doc jsonb) ON COMMIT DROP").format(_STAGE))
    if pages is not None:  # whole pages are large: store them uncompressed (pglz costs more than it saves)
        conn.execute(sql.SQL("ALTER TABLE {} ALTER doc SET STORAGE EXTERNAL").format(_STAGE))
    with conn.cursor().copy(sql.SQL("COPY {} (doc) FROM STDIN").format(_STAGE)) as copy:
        copy.write(payload)
    targets = [sql.Identifier(n) for n in names]
    values: list[sql.Composable] = [_cast(n, columns[n]) for n in names]
    if tags is not None:
        targets += [sql.Identifier(DATE_COLUMN), sql.Identifier(PARTITION_COLUMN)]
        values += [sql.Literal(tags[0]), sql.Literal(tags[1])]
    query = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
        spec.qualified(into), sql.SQL(", ").join(targets), sql.SQL(", ").join(values), source
    )
    if spec.mode != "append" and spec.primary_key and spec.expect_new:
        # Most daily batches hold only new keys, and a plain INSERT costs PostgreSQL about
        # half of an upsert's speculative insertion. The first unique violation rolls the
        # savepoint back and this writer upserts from then on.
        try:
            with conn.transaction():
                conn.execute(query)
        except psycopg.errors.UniqueViolation:
            spec.expect_new = False
        else:
            conn.execute(sql.SQL("DROP TABLE {}").format(_STAGE))
            return len(records)
    if spec.mode != "append" and spec.primary_key:
        keys = sql.SQL(", ").join(sql.Identifier(k) for k in spec.primary_key)
        updates = [n for n in names if n not in spec.primary_key]
        if updates:
            assignments = sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in updates
            )
            query += sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(keys, assignments)
        else:
            query += sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(keys)
    conn.execute(query)
    conn.execute(sql.SQL("DROP TABLE {}").format(_STAGE))
    return len(records)


# JSON allows raw tab, newline and carriage return only as whitespace between tokens,
# so turning them into spaces keeps the document and makes it one COPY text line.
_WHITESPACE = bytes.maketrans(b"\t\n\r", b"   ")


@dataclass
class RawPages:
    """Response bodies whose records, at ``path`` in each, are exactly a batch's records."""

    bodies: list[bytes]
    path: list[str]


def delete_partition_rows(
    conn: psycopg.Connection[Any], spec: TableSpec, into: str, logical_date: Any, key: str
) -> None:
    """Append mode: remove rows an earlier attempt wrote for this date and partition."""
    if read_columns(conn, spec.schema, into) is None:
        return
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE {} = %s AND {} = %s").format(
            spec.qualified(into), sql.Identifier(DATE_COLUMN), sql.Identifier(PARTITION_COLUMN)
        ),
        (logical_date, key),
    )


def shadow_name(table: str, run_id: int) -> str:
    """The table a ``replace`` run fills before it is swapped in."""
    return f"_dailyfetch_{run_id}_{table}"[:63]


def prepare_shadow(conn: psycopg.Connection[Any], spec: TableSpec, shadow: str) -> None:
    """Create the shadow table like the live one (indexes, defaults, key) if both are missing."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"dailyfetch:{spec.schema}.{shadow}",))
        if read_columns(conn, spec.schema, shadow) is not None:
            return
        if read_columns(conn, spec.schema, spec.table) is not None:
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                    spec.qualified(shadow), spec.qualified()
                )
            )


def drop_tables(conn: psycopg.Connection[Any], spec: TableSpec, tables: Sequence[str]) -> None:
    """Drop leftover tables (shadows of superseded ``replace`` runs) if they exist."""
    for table in tables:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(spec.qualified(table)))


def swap_in(conn: psycopg.Connection[Any], spec: TableSpec, shadow: str) -> None:
    """Atomically replace the live table by the shadow one (inside the caller's transaction)."""
    if read_columns(conn, spec.schema, shadow) is None:  # the run produced no rows at all
        if read_columns(conn, spec.schema, spec.table) is not None:
            conn.execute(sql.SQL("TRUNCATE {}").format(spec.qualified()))
        return
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(spec.qualified()))
    conn.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(spec.qualified(shadow), sql.Identifier(spec.table))
    )


def locate_bad_record(
    conn: psycopg.Connection[Any],
    spec: TableSpec,
    into: str,
    records: Sequence[dict[str, Any]],
    columns: dict[str, str],
    names: Sequence[str],
    *,
    tags: tuple[Any, str] | None = None,
) -> tuple[int, str, str] | None:
    """After PostgreSQL refused a batch, find the record and column it refused.

    Bisects the batch with savepoints inside a transaction that is always rolled
    back (nothing is written), then casts the record's values one by one. Returns
    ``(index, column, PostgreSQL's message)``, or ``None`` if no single record fails.
    """
    lo, candidates = 0, list(records)
    try:
        with conn.transaction(force_rollback=True):
            while len(candidates) > 1:
                half = candidates[: len(candidates) // 2]
                try:
                    with conn.transaction():
                        write_batch(conn, spec, into, half, columns, names, tags=tags)
                    lo, candidates = lo + len(half), candidates[len(half) :]
                except psycopg.errors.DataError:
                    candidates = half
            record = candidates[0]
            for name in names:
                value = record.get(name)
                if value is None:
                    continue
                try:
                    with conn.transaction():
                        conn.execute(
                            sql.SQL("SELECT {} FROM (SELECT %s::jsonb AS doc) AS one").format(
                                _cast(name, columns[name])
                            ),
                            (orjson.dumps(record).decode(),),
                        )
                except psycopg.errors.DataError as exc:
                    lines = str(exc).strip().splitlines()
                    return lo, name, lines[0] if lines else type(exc).__name__
    except psycopg.Error:
        return None
    return None
