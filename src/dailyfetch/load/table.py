"""The destination table: what a job writes where, its columns by field, creating and widening it.

Columns are keyed by the *field* whose values they hold (:mod:`.names`: a field's
own name, or its mapped column's, recorded in the ledger). Append mode adds
bookkeeping columns: the run's logical date, the partition, the job (so two jobs
appending to one table never delete each other's rows) and, for sub-day windows, the
window's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg import sql

from dailyfetch.errors import LoadError
from dailyfetch.load import columns as cols
from dailyfetch.load import names

DATE_COLUMN = "_dailyfetch_date"
PARTITION_COLUMN = "_dailyfetch_partition"
JOB_COLUMN = "_dailyfetch_job"
WINDOW_COLUMN = "_dailyfetch_window"  # append mode with sub-day windows: the window's start
BOOKKEEPING = frozenset({DATE_COLUMN, PARTITION_COLUMN, JOB_COLUMN, WINDOW_COLUMN})
WriteMode = Literal["merge", "append", "replace"]
_RELATION_KINDS = {"v": "a view", "m": "a materialized view", "f": "a foreign table", "S": "a sequence"}


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
    job: str = field(kw_only=True)  # the job writing: append jobs sharing a table keep apart

    def columns(self) -> list[tuple[str, Any]]:
        """The bookkeeping columns and their values."""
        out = [(DATE_COLUMN, self.logical_date), (PARTITION_COLUMN, self.partition), (JOB_COLUMN, self.job)]
        if self.window_start is not None:
            out.append((WINDOW_COLUMN, self.window_start))
        return out


class TableColumns(dict[str, str]):
    """A table's columns and their types, keyed by the field each holds; ``qualified`` names the table,
    ``declared`` are the fields whose type ``[destination.columns]`` declares."""

    qualified: str = ""
    declared: frozenset[str] = frozenset()


def read_columns(conn: psycopg.Connection[Any], schema: str, table: str) -> dict[str, str] | None:
    """The table's columns (by column name) and their types, or ``None`` when it does not exist."""
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


def read_fields(conn: psycopg.Connection[Any], spec: TableSpec, into: str) -> TableColumns | None:
    """``into``'s columns keyed by field (the mapping recorded for ``spec.table``), or ``None``."""
    columns = read_columns(conn, spec.schema, into)
    if columns is None:
        return None
    out = TableColumns(names.fields_of(conn, spec.schema, spec.table, columns))
    out.qualified = spec.qualified().as_string(conn)
    out.declared = frozenset(spec.declared)
    return out


def claim_table(conn: psycopg.Connection[Any], spec: TableSpec, job: str) -> None:
    """Record that ``job`` writes ``spec``'s table; a ``replace`` job must be its table's only writer.

    A replace run swaps in a table of only its own rows, so another job's rows there
    would vanish (and that job's own replace would drop this one's). So a replace job
    on a table another job writes, or any job on a replace job's table, is an error
    naming the other job. Runs in the caller's transaction.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"dailyfetch:{spec.schema}.{spec.table}",))
    row = conn.execute(
        """
        WITH mine AS (
            INSERT INTO dailyfetch.destinations (schema, "table", job, mode) VALUES (%(s)s, %(t)s, %(j)s, %(m)s)
            ON CONFLICT (schema, "table", job) DO UPDATE SET mode = EXCLUDED.mode
            WHERE dailyfetch.destinations.mode <> EXCLUDED.mode
        )
        SELECT job, mode FROM dailyfetch.destinations
        WHERE schema = %(s)s AND "table" = %(t)s AND job <> %(j)s AND (mode = 'replace' OR %(m)s = 'replace')
        ORDER BY job LIMIT 1
        """,
        {"s": spec.schema, "t": spec.table, "j": job, "m": spec.mode},
    ).fetchone()
    if row is not None:
        other, mode = row
        forget = sql.SQL("DELETE FROM dailyfetch.destinations WHERE job = {}").format(other).as_string(conn)
        raise LoadError(
            f"table {spec.schema}.{spec.table} is also written by job {other!r} ({mode}); a replace job "
            "swaps in a table of only its own rows, so one job would erase the other's",
            hint=f"give each job its own table, or, if job {other!r} no longer writes this one: {forget}",
        )


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
        (spec.schema, into, sorted(map(names.column_name, spec.primary_key))),
    ).fetchone()
    return bool(row and row[0])


def bookkeeping_missing(spec: TableSpec, columns: dict[str, str], count: int = 1) -> bool:
    """Whether an append batch of ``count`` records needs :func:`prepare_table` whatever its fields:
    the table is missing (records of only nulls still make rows) or predates a bookkeeping column."""
    if spec.mode != "append" or not count:
        return False
    return JOB_COLUMN not in columns or (spec.window_column and WINDOW_COLUMN not in columns)


def refuse_bookkeeping_fields(spec: TableSpec, fields: Sequence[str]) -> None:
    """Append mode: a field named as a bookkeeping column is an error naming it."""
    if spec.mode == "append" and not BOOKKEEPING.isdisjoint(fields):
        clash = sorted(BOOKKEEPING.intersection(fields))[0]
        raise LoadError(
            f"field {clash!r} has the name of a column append mode keeps for itself",
            hint="rename the field in the source, or write = 'merge' with a primary_key",
        )


def prepare_table(
    conn: psycopg.Connection[Any],
    spec: TableSpec,
    into: str,
    observed: dict[str, set[type]],
    records: Sequence[dict[str, Any]] = (),
) -> TableColumns:
    """Create ``into`` or add the columns ``observed`` needs; return its columns by field.

    ``records`` are the batch whose fields ``observed`` describes: a new integer column
    is ``numeric`` when one of its values is beyond ``bigint`` (or, beside floats,
    beyond what a double holds exactly). Runs in its own short transaction under a
    transaction-level advisory lock, so concurrent workers agree on the schema without
    deadlocking.
    """
    wanted: dict[str, str] = {}
    for name, types in observed.items():
        pg_type = spec.declared.get(name)
        if pg_type is None and int in types:
            pg_type = cols.infer_type(types, cols.values_of(records, name))
        pg_type = pg_type or cols.infer_type(types)
        if pg_type is not None:
            wanted[name] = pg_type
    for key in spec.primary_key:
        wanted.setdefault(key, spec.declared.get(key, "text"))
    refuse_bookkeeping_fields(spec, list(wanted))
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"dailyfetch:{spec.schema}.{into}",))
        existing = read_fields(conn, spec, into)
        if existing is None:
            refuse_other_relation(conn, spec, into)
            names.check_distinct(wanted)
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(spec.schema)))
            conn.execute(_create_table_sql(spec, into, wanted))
            names.register(conn, spec.schema, spec.table, into, wanted)
        else:
            missing = {k: v for k, v in wanted.items() if k not in existing}
            names.check_new(missing, {names.column_name(f): f for f in existing})
            if spec.mode == "append" and JOB_COLUMN not in existing:  # a table from before the job column
                missing[JOB_COLUMN] = "text"
            if spec.window_column and WINDOW_COLUMN not in existing:  # a daily append table turned hourly
                missing[WINDOW_COLUMN] = "timestamp"
            if missing:
                alters = sql.SQL(", ").join(
                    sql.SQL("ADD COLUMN IF NOT EXISTS {} {}").format(names.identifier(k), sql.SQL(v))
                    for k, v in missing.items()
                )
                conn.execute(sql.SQL("ALTER TABLE {} ").format(spec.qualified(into)) + alters)
                names.register(conn, spec.schema, spec.table, into, missing)
        columns = read_fields(conn, spec, into)
    if columns is None:  # pragma: no cover - created above, under the lock
        raise LoadError(f"table {spec.schema}.{into} vanished while dailyfetch created it")
    return columns


def refuse_other_relation(conn: psycopg.Connection[Any], spec: TableSpec, into: str) -> None:
    """A view (or sequence, foreign table...) where the table should be is an error naming it."""
    row = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s",
        (spec.schema, into),
    ).fetchone()
    if row is not None:
        what = _RELATION_KINDS.get(str(row[0]), "not a table")
        raise LoadError(
            f"destination {spec.schema}.{into} is {what}, and dailyfetch writes only to tables",
            hint="set [destination] table to a table's name (dailyfetch creates it), or drop the "
            f"{what.removeprefix('a ')} first",
        )


def _create_table_sql(spec: TableSpec, into: str, wanted: dict[str, str]) -> sql.Composed:
    parts = [sql.SQL("{} {}").format(names.identifier(k), sql.SQL(v)) for k, v in wanted.items()]
    if spec.mode == "append":
        parts.append(sql.SQL("{} date NOT NULL").format(sql.Identifier(DATE_COLUMN)))
        parts.append(sql.SQL("{} text NOT NULL").format(sql.Identifier(PARTITION_COLUMN)))
        parts.append(sql.SQL("{} text NOT NULL").format(sql.Identifier(JOB_COLUMN)))
        if spec.window_column:
            parts.append(sql.SQL("{} timestamp").format(sql.Identifier(WINDOW_COLUMN)))
    if spec.primary_key and spec.mode != "append":
        keys = sql.SQL(", ").join(map(names.identifier, spec.primary_key))
        parts.append(sql.SQL("PRIMARY KEY ({})").format(keys))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
        spec.qualified(into), sql.SQL(", ").join(parts)
    )


def delete_partition_rows(
    conn: psycopg.Connection[Any], spec: TableSpec, into: str, tags: AppendTags
) -> None:
    """Append mode: remove rows an earlier attempt of this job wrote for this window and partition.

    Rows written before the job column existed (``NULL`` there) count as every job's:
    any job's rerun of their window and partition replaces them, as before.
    """
    existing = read_columns(conn, spec.schema, into)
    if existing is None:
        return
    tagged = [(c, v) for c, v in tags.columns() if c != JOB_COLUMN]
    where = [(c, v) for c, v in tagged if c in existing]
    if len(where) < len(tagged):  # no window column yet: no row of this window can exist
        return
    # Values as literals, not parameters: a '%' in a table name must not read as a placeholder.
    conditions = [sql.SQL("{} = {}").format(sql.Identifier(c), sql.Literal(v)) for c, v in where]
    if JOB_COLUMN in existing:
        conditions.append(
            sql.SQL("({0} = {1} OR {0} IS NULL)").format(sql.Identifier(JOB_COLUMN), sql.Literal(tags.job))
        )
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE {}").format(spec.qualified(into), sql.SQL(" AND ").join(conditions))
    )
