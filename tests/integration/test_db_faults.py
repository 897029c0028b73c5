"""Database faults made for real in PostgreSQL: permanent errors fail at once, the deadline cancels statements.

The API is :class:`~support.shaped_apis.ProductsEnvelope` (a plain page-number envelope
as real APIs serve one); the counts asserted are the requests that server received.
Each failure is created in PostgreSQL itself (a trigger raising a SQLSTATE, a real
statement_timeout, a real btree limit, a real column limit, a real lock), never by a
mock of psycopg.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import test_pgbouncer
from psycopg import sql

from dailyfetch.runner import RunResult, run_job
from support.cli import dailyfetch_exe, run_cli
from support.configs import fetch_table, ledger_rows, load
from support.shaped_apis import ProductsEnvelope, make_products

pgbouncer = test_pgbouncer.pgbouncer  # the fixture: a PgBouncer in transaction mode
DAY = date(2026, 11, 12)
PER_PAGE = 10
PRODUCTS = 60  # six pages, then one empty page: one pass asks for seven


def _config(url: str, *, table: str, job: str = "products", extra_job: str = "", write: str = "merge") -> str:
    return "\n".join(
        [
            "[job]",
            f'name = "{job}"',
            extra_job,
            "[source]",
            'kind = "rest"',
            f'url = "{url}/api/v2/products"',
            f'params = {{ per_page = "{PER_PAGE}" }}',
            'pagination = { kind = "page_number", param = "page", start = 1 }',
            'records = "data.items"',
            "[destination]",
            f'table = "{table}"',
            "batch_size = 20",
            'primary_key = ["product_id"]',
            f'write = "{write}"',
            "",
        ]
    )


@pytest.fixture
def products() -> Iterator[ProductsEnvelope]:
    """Sixty products, ten a page."""
    server = ProductsEnvelope(products=make_products(PRODUCTS))
    server.start()
    yield server
    server.stop()


def _sql(db_url: str, *statements: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def _run(config: str, db_url: str) -> RunResult:
    return run_job(load(config), logical_date=DAY, database_url=db_url)


def _table() -> str:
    return f"p_{uuid.uuid4().hex[:8]}"


def _disk_full(db_url: str, table: str, products: ProductsEnvelope) -> None:
    """A trigger raising SQLSTATE 53100, as PostgreSQL does when it cannot extend a file."""
    _sql(
        db_url,
        f"CREATE TABLE {table} (product_id bigint PRIMARY KEY)",
        f"""CREATE FUNCTION {table}_full() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'could not extend file "base/16384/24576": No space left on device'
              USING ERRCODE = '53100', HINT = 'Check free disk space.'; END $$""",
        f"CREATE TRIGGER full_disk BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_full()",
    )


def _statement_timeout(db_url: str, table: str, products: ProductsEnvelope) -> None:
    """A real statement_timeout of the database (300 ms), and a trigger that makes writes slower than it."""
    name = psycopg.conninfo.conninfo_to_dict(db_url)["dbname"]
    _sql(
        db_url,
        f"CREATE TABLE {table} (product_id bigint PRIMARY KEY)",
        f"""CREATE FUNCTION {table}_slow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$""",
        f"CREATE TRIGGER slow BEFORE INSERT ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {table}_slow()",
        f"ALTER DATABASE \"{name}\" SET statement_timeout = '300ms'",
    )


def _index_row_too_big(db_url: str, table: str, products: ProductsEnvelope) -> None:
    """A btree index on ``name`` and one product whose name (8 kB, incompressible) exceeds its row limit."""
    _sql(
        db_url,
        f"CREATE TABLE {table} (product_id bigint PRIMARY KEY, name text)",
        f"CREATE INDEX ON {table} (name)",
    )
    products.products[33]["name"] = os.urandom(4000).hex()


def _too_many_columns(db_url: str, table: str, products: ProductsEnvelope) -> None:
    """Records with 1,700 fields: more than the 1,600 columns a PostgreSQL table can have."""
    for product in products.products:
        product.update({f"attr_{n:04d}": n for n in range(1700)})


FAULTS: dict[str, tuple[Callable[[str, str, ProductsEnvelope], None], tuple[str, ...]]] = {
    "disk full (53100)": (_disk_full, ("53100", "disk_full", "No space left on device")),
    "statement_timeout (57014)": (_statement_timeout, ("57014", "statement_timeout", "300ms")),
    "index row size (54000)": (_index_row_too_big, ("54000", "index row size", "5034")),
    "too many columns (54011)": (_too_many_columns, ("54011", "1600 columns")),
}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_permanent_database_error_fails_after_one_pass(
    fault: str, db_url: str, products: ProductsEnvelope
) -> None:
    """A permanent database error (disk full, statement_timeout, a btree or column limit) fails the run after one pass, naming the limit."""
    make, named = FAULTS[fault]
    table = _table()
    make(db_url, table, products)
    result = _run(_config(products.url, table=table), db_url)
    assert result.outcome == "failed" and result.exit_code == 1, result
    message = result.error or ""
    assert "\n" not in message
    for part in named:
        assert part in message, (part, message)
    # One pass asks for at most the seven pages (fewer when it fails at the first batch): never a retry loop.
    assert 1 <= len(products.requests) <= PRODUCTS // PER_PAGE + 1, len(products.requests)
    ((status, error),) = ledger_rows(db_url, "SELECT status, error FROM dailyfetch.runs")
    assert status == "failed" and named[0] in error


def _terminating_trigger(db_url: str, table: str, *, times: str) -> None:
    """A trigger on ``table`` that terminates its own backend (a real 57P01 admin_shutdown) ``times``."""
    when = "true" if times == "always" else "nextval('" + table + "_once') = 1"
    _sql(
        db_url,
        f"CREATE SEQUENCE {table}_once",
        f"CREATE TABLE {table} (product_id bigint PRIMARY KEY)",
        f"""CREATE FUNCTION {table}_kill() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF {when} THEN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(5); END IF;
              RETURN NULL; END $$""",
        f"CREATE TRIGGER kill AFTER INSERT ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {table}_kill()",
    )


@pytest.mark.timeout(120)
def test_a_dropped_connection_mid_run_reconnects_and_lands_the_source(
    db_url: str, products: ProductsEnvelope
) -> None:
    """The server ending the connection mid-batch (57P01) is ridden out: reconnect, resume, and the table equals the source."""
    table = _table()
    _terminating_trigger(db_url, table, times="once")
    result = _run(_config(products.url, table=table), db_url)
    assert result.outcome == "succeeded", result.error
    ids = [row["product_id"] for row in fetch_table(db_url, table, order="product_id")]
    assert ids == [p["product_id"] for p in products.products]
    # One pass, plus the pages of the lost batch fetched again: no more.
    assert len(products.requests) <= PRODUCTS // PER_PAGE + 1 + 2, len(products.requests)


@pytest.mark.timeout(120)
def test_a_connection_lost_on_every_attempt_is_retried_with_backoff(
    db_url: str, products: ProductsEnvelope
) -> None:
    """A connection that drops at every write is retried with backoff, never in a tight loop; the deadline ends the wait."""
    table = _table()
    _terminating_trigger(db_url, table, times="always")
    result = _run(_config(products.url, table=table, extra_job='timeout = "6s"'), db_url)
    assert result.outcome == "interrupted" and result.exit_code == 1, result
    # Each attempt fetches two pages (one batch) and fails at its write; waits of 0.5, 1, 2
    # and 4 s between attempts leave room for at most five attempts in 6 s.
    assert 2 <= len(products.requests) <= 5 * 2, len(products.requests)


def _lock_waiters(admin: psycopg.Connection[Any], dbname: str) -> int:
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'dailyfetch' "
        "AND wait_event_type = 'Lock'",
        (dbname,),
    ).fetchone()
    return int(row[0]) if row else 0


def _deadline_against_a_lock(run_url: str, direct_url: str, products: ProductsEnvelope) -> RunResult:
    """Run with ``timeout = "2s"`` (through ``run_url``) while another session locks its table."""
    table = _table()
    dbname = psycopg.conninfo.conninfo_to_dict(direct_url)["dbname"]
    _sql(direct_url, f"CREATE TABLE {table} (product_id bigint PRIMARY KEY, name text)")
    holder = psycopg.connect(direct_url)
    admin = psycopg.connect(direct_url, autocommit=True)
    holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    holder.execute("SET LOCAL statement_timeout = '5s'")  # the holder must never wait behind the run
    outcome: list[RunResult] = []
    config = _config(products.url, table=table, job=table, extra_job='timeout = "2s"')
    runner = threading.Thread(target=lambda: outcome.append(_run(config, run_url)), daemon=True)
    try:
        runner.start()
        for _ in range(600):  # until the run waits for the lock (or has ended)
            if _lock_waiters(admin, dbname) or not runner.is_alive():
                break
            time.sleep(0.05)
        # While the run waits, the holder keeps working on the table and reads the ledger.
        holder.execute(
            sql.SQL("INSERT INTO {} (product_id, name) VALUES (-1, 'holder')").format(sql.Identifier(table))
        )
        holder.execute("SELECT count(*) FROM dailyfetch.partitions").fetchone()
        runner.join(timeout=60)  # a hang guard, not a timing assertion
        assert not runner.is_alive(), "the run was still waiting for the lock a minute after its deadline"
        assert _lock_waiters(admin, dbname) == 0, "a statement of the run is still waiting for the lock"
    finally:
        holder.rollback()
        runner.join(timeout=60)
        holder.close()
        admin.close()
    (result,) = outcome
    assert result.outcome == "interrupted" and result.exit_code == 1, result
    assert "deadline" in (result.error or ""), result.error
    rows = ledger_rows(direct_url, "SELECT status, error_class FROM dailyfetch.runs WHERE job = %s", table)
    assert rows == [("interrupted", "RunInterrupted")]
    partitions = ledger_rows(
        direct_url,
        "SELECT p.status FROM dailyfetch.partitions p JOIN dailyfetch.runs r ON r.id = p.run_id WHERE r.job = %s",
        table,
    )
    assert partitions == [("interrupted",)]
    return result


@pytest.mark.timeout(120)
def test_a_lock_on_the_destination_ends_at_the_deadline_as_interrupted(
    db_url: str, products: ProductsEnvelope
) -> None:
    """A table locked by another session: the [job] timeout cancels the waiting statement and the run is 'interrupted' (exit 1)."""
    _deadline_against_a_lock(db_url, db_url, products)


@pytest.mark.timeout(120)
def test_the_deadline_cancels_a_waiting_statement_through_pgbouncer(
    pgbouncer: tuple[str, str], products: ProductsEnvelope
) -> None:
    """Through a transaction-pooling PgBouncer the deadline still cancels a statement waiting for a lock."""
    pooled, direct = pgbouncer
    _deadline_against_a_lock(pooled, direct, products)


@pytest.mark.timeout(120)
def test_sigterm_while_waiting_for_a_lock_ends_the_run_interrupted(
    db_url: str, products: ProductsEnvelope, tmp_path: Path
) -> None:
    """SIGTERM while a statement waits for a lock: the statement is cancelled, the run records 'interrupted' and exits 143."""
    table = _table()
    dbname = psycopg.conninfo.conninfo_to_dict(db_url)["dbname"]
    _sql(db_url, f"CREATE TABLE {table} (product_id bigint PRIMARY KEY, name text)")
    path = tmp_path / "dailyfetch.toml"
    path.write_text(_config(products.url, table=table, extra_job='stop_grace = "20s"'))
    argv = [*dailyfetch_exe(), "run", "-c", str(path), "--date", DAY.isoformat(), "--database-url", db_url]
    holder = psycopg.connect(db_url)
    admin = psycopg.connect(db_url, autocommit=True)
    holder.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(table)))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            if _lock_waiters(admin, dbname) or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert _lock_waiters(admin, dbname), "the run never waited for the lock"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)  # a hang guard
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        holder.rollback()
        holder.close()
        admin.close()
    assert code == 143, proc.stderr.read() if proc.stderr else ""
    ((status, error),) = ledger_rows(db_url, "SELECT status, error FROM dailyfetch.runs")
    assert status == "interrupted" and "SIGTERM" in error


@pytest.mark.parametrize(
    "dropped",
    [
        ("runs",),
        ("partitions",),
        ("cursors", "cursor_changes"),
        ("runs", "partitions", "cursors", "cursor_changes"),
        ("meta",),
    ],
)
def test_ledger_tables_dropped_by_hand_are_recreated(
    dropped: tuple[str, ...], db_url: str, products: ProductsEnvelope
) -> None:
    """Ledger tables dropped by hand are recreated by the next run, which then fetches the window again and succeeds."""
    table = _table()
    config = _config(products.url, table=table)
    assert _run(config, db_url).outcome == "succeeded"
    _sql(db_url, *(f"DROP TABLE dailyfetch.{name} CASCADE" for name in dropped))
    before = len(products.requests)
    again = _run(config, db_url)
    if "runs" in dropped:  # the run's record is gone: it is a new run, fetched again
        assert again.outcome == "succeeded", again.error
        assert len(products.requests) > before
    else:
        assert again.outcome in ("succeeded", "already_succeeded"), again.error
    assert len(fetch_table(db_url, table, order="product_id")) == PRODUCTS
    forced = run_job(load(config), logical_date=DAY, database_url=db_url, force=True)
    assert forced.outcome == "succeeded", forced.error
    assert ledger_rows(db_url, "SELECT count(*) FROM dailyfetch.runs WHERE status = 'succeeded'")[0][0] >= 1


@pytest.mark.timeout(180)
def test_a_killed_run_shows_as_abandoned_once_its_lease_expires(
    db_url: str, products: ProductsEnvelope, tmp_path: Path
) -> None:
    """A run whose worker was killed -9 and never re-run is not shown as 'running' forever: once its lease expires, 'runs' says failed."""
    table = _table()
    gate = threading.Event()
    real = products.respond

    def held(path: str, query: dict[str, str]) -> Any:
        if int(query.get("page", 1)) > 3:
            gate.wait(60)  # hold the run mid-partition, after its first batch committed
        return real(path, query)

    products.respond = held  # type: ignore[method-assign]
    path = tmp_path / "dailyfetch.toml"
    path.write_text(_config(products.url, table=table, extra_job="lease_seconds = 5"))
    argv = [*dailyfetch_exe(), "run", "-c", str(path), "--date", DAY.isoformat(), "--database-url", db_url]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if ledger_rows(db_url, "SELECT coalesce(sum(rows), 0) FROM dailyfetch.partitions")[0][0] > 0:
                    break
            except psycopg.errors.UndefinedTable:
                pass
            time.sleep(0.05)
        else:
            pytest.fail("the run committed no batch")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        gate.set()
    # Same host, dead pid: a new claim could take it over at once; a reader waits for the lease.
    expired = "SELECT bool_and(lease_until IS NULL OR lease_until < now()) FROM dailyfetch.partitions"
    for _ in range(600):
        if ledger_rows(db_url, expired)[0][0]:
            break
        time.sleep(0.05)
    shown = run_cli("runs", "-c", str(path), "--json", "--database-url", db_url, timeout=60)
    assert shown.returncode == 0, shown.stderr
    (row,) = orjson.loads(shown.stdout)
    assert row["status"] == "failed", row
    assert "abandoned" in (row["error"] or "") and "dailyfetch run" in row["error"], row
    assert row["error_class"] == "RunAbandoned"
    # The ledger itself is left as it was: the next run resumes the window.
    assert ledger_rows(db_url, "SELECT status FROM dailyfetch.runs") == [("running",)]
    resumed = run_cli(
        "run", "-c", str(path), "--date", DAY.isoformat(), "--database-url", db_url, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    assert len(fetch_table(db_url, table, order="product_id")) == PRODUCTS
