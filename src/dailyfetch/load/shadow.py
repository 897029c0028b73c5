"""``replace`` mode's shadow tables: filled by a run, swapped in atomically when it succeeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from dailyfetch.load.names import IDENTIFIER_BYTES
from dailyfetch.load.table import TableSpec, read_columns, refuse_other_relation


def shadow_name(table: str, run_id: int) -> str:
    """The table a ``replace`` run fills before it is swapped in (cut to 63 bytes, not mid-character)."""
    name = f"_dailyfetch_{run_id}_{table}".encode()[:IDENTIFIER_BYTES]
    return name.decode("utf-8", "ignore")


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
        else:
            refuse_other_relation(conn, spec, spec.table)  # a view where the table would be swapped in


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
