"""PostgreSQL's share of a W1 load, statement by statement: what durability, types and a key cost.

Serves 100,000 W1 records from the benchmark's fake API, then times, on one connection,
10 transactions of 10 pages each, every page bound as a ``jsonb`` parameter (dailyfetch's
set-based path), into fresh tables of each kind below; and last, the same records decoded
beforehand and sent by binary COPY of typed values (dailyfetch's path for new rows; that
row's time includes psycopg's encoding in Python). Prints a Markdown table of the median
of ``--runs`` per kind::

    .venv/bin/python benchmarks/pg_cost.py [--runs 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import httpx
import orjson
import psycopg
from harness import FakeServer, recreate_scratch, scratch_url
from psycopg import sql

from dailyfetch.load import columns as cols
from dailyfetch.load import copy_rows

DAY = "2026-11-01"
RECORDS, PAGE = 100_000, 1_000
COLUMNS = {
    "id": "text", "seq": "bigint", "amount": "double precision", "active": "boolean", "name": "text",
    "tags": "jsonb", "meta": "jsonb", "note": "text", "label": "text", "total": "bigint",
}  # fmt: skip


def typed_select() -> str:
    """The casts dailyfetch's writer emits for W1's inferred columns."""
    parts = []
    for name, pg_type in COLUMNS.items():
        if pg_type == "jsonb":
            parts.append(f"NULLIF(e -> '{name}', 'null'::jsonb)")
        elif pg_type == "text":
            parts.append(f"e ->> '{name}'")
        else:
            parts.append(f"(e ->> '{name}')::{pg_type}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with FakeServer({"datasets": {DAY: {"p0": RECORDS}}, "page_size": PAGE}) as api:
        bodies = [
            httpx.get(f"{api.url}/offset/{DAY}/p0", params={"offset": o, "limit": PAGE}).content.decode()
            for o in range(0, RECORDS, PAGE)
        ]
    cols_sql = ", ".join(f"{n} {t}" for n, t in COLUMNS.items())
    names = ", ".join(COLUMNS)
    elements = "jsonb_array_elements(%s::jsonb #> '{items}') e"
    typed = f"INSERT INTO t ({names}) SELECT {typed_select()} FROM {elements}"  # noqa: S608 (constants)
    kinds: list[tuple[str, str, str]] = [
        ("parse the pages into jsonb and nothing else", "CREATE UNLOGGED TABLE t (doc jsonb)",
         "SELECT jsonb_array_length(%s::jsonb #> '{items}')"),
        ("each record as a jsonb row of an UNLOGGED table (the raw limit's work)",
         "CREATE UNLOGGED TABLE t (doc jsonb)", f"INSERT INTO t SELECT e FROM {elements}"),  # noqa: S608
        ("typed columns into an UNLOGGED table with the primary key",
         f"CREATE UNLOGGED TABLE t ({cols_sql}, PRIMARY KEY (id))", typed),
        ("typed columns into a logged table without a key", f"CREATE TABLE t ({cols_sql})", typed),
        ("typed columns into a logged table with the primary key (dailyfetch's set-based path)",
         f"CREATE TABLE t ({cols_sql}, PRIMARY KEY (id))", typed),
    ]  # fmt: skip
    copy_label = "typed values by binary COPY, logged, with the primary key (dailyfetch now; includes the encoding in Python)"
    batches = [
        cols.field_values([r for b in bodies[start : start + 10] for r in orjson.loads(b)["items"]])
        for start in range(0, len(bodies), 10)
    ]
    recreate_scratch(args.database_url)
    timings: dict[str, list[float]] = {label: [] for label, _, _ in kinds}
    timings[copy_label] = []
    with psycopg.connect(scratch_url(args.database_url)) as conn:
        for _ in range(args.runs):
            for label, ddl, query in kinds:
                timings[label].append(_timed(conn, ddl, lambda cur, q=query: _pages(cur, q, bodies)))
            ddl = f"CREATE TABLE t ({cols_sql}, PRIMARY KEY (id))"
            timings[copy_label].append(_timed(conn, ddl, lambda cur: _copies(cur, batches)))
    recreate_scratch(args.database_url, drop_only=True)
    print(f"PostgreSQL work for {RECORDS:,} W1 records, 10 pages a transaction (median of {args.runs})\n")
    print("| PostgreSQL work | seconds |\n|---|---:|")
    for label, values in timings.items():
        print(f"| {label} | {statistics.median(values):.2f} |")


def _pages(cur: psycopg.Cursor[object], query: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        with cur.connection.transaction():
            cur.executemany(query.encode(), [(b,) for b in bodies[start : start + 10]])


def _copies(cur: psycopg.Cursor[object], batches: list[dict[str, list[object]] | None]) -> None:
    names, types = list(COLUMNS), list(COLUMNS.values())
    for values in batches:
        assert values is not None
        with cur.connection.transaction():
            copy_rows.copy_batch(cur.connection, sql.Identifier("t"), names, types, values, [])


def _timed(
    conn: psycopg.Connection[object], ddl: str, work: Callable[[psycopg.Cursor[object]], None]
) -> float:
    conn.execute("DROP TABLE IF EXISTS t")
    conn.execute(ddl.encode())
    conn.commit()
    with conn.cursor() as cur:
        started = time.perf_counter()
        work(cur)
        return time.perf_counter() - started


if __name__ == "__main__":
    main()
