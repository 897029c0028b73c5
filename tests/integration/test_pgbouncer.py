"""Behind a transaction-pooling PgBouncer (like Neon's pooled endpoint) nothing breaks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from dailyfetch.runner import run_job
from support.cli import dailyfetch_exe, skip_or_fail
from support.configs import fetch_table, ledger_rows, load, make_config
from support.fakeapi import FakeAPI, make_records

MACHINE_PG = os.environ.get("DAILYFETCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DAY = date(2026, 11, 7)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pgbouncer() -> Iterator[tuple[str, str]]:
    """A PgBouncer in transaction mode with 2 server connections, in front of the machine's PostgreSQL."""
    exe = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
    )
    if exe is None:
        skip_or_fail("pgbouncer is not installed (apt-get install pgbouncer)")
    name = f"dfbouncer_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(MACHINE_PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    workdir = Path(tempfile.mkdtemp(prefix="dailyfetch-pgbouncer-"))
    workdir.chmod(0o777)
    port = _free_port()
    (workdir / "userlist.txt").write_text('"postgres" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        f"[databases]\n* = host=127.0.0.1 port=5432\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n"
        f"auth_type = trust\nauth_file = {workdir}/userlist.txt\npool_mode = transaction\n"
        "default_pool_size = 2\nmax_client_conn = 200\nunix_socket_dir =\n"
        f"logfile = {workdir}/pgbouncer.log\npidfile = {workdir}/pgbouncer.pid\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    argv = [exe, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "postgres"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"postgresql://postgres@127.0.0.1:{port}/{name}"
    for _ in range(50):
        try:
            with psycopg.connect(url, connect_timeout=1, prepare_threshold=None):
                break
        except psycopg.OperationalError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"pgbouncer did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
    direct = psycopg.conninfo.make_conninfo(MACHINE_PG, dbname=name)
    yield url, direct
    proc.terminate()
    proc.wait(timeout=10)
    with psycopg.connect(MACHINE_PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("write", ["merge", "append", "replace"])
def test_runs_through_transaction_pooling(write: str, pgbouncer: tuple[str, str], api: FakeAPI) -> None:
    """Every write mode lands the source exactly when connected through PgBouncer in transaction mode."""
    pooled, direct = pgbouncer
    with psycopg.connect(direct, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS dailyfetch CASCADE")
        conn.execute("DROP TABLE IF EXISTS orders")
    config = load(make_config(api.url, write=write, primary_key='["id"]' if write != "append" else ""))
    result = run_job(config, logical_date=DAY, database_url=pooled)
    assert result.outcome == "succeeded", result.error
    again = run_job(config, logical_date=DAY, database_url=pooled, force=True)
    assert again.outcome == "succeeded", again.error
    rows = fetch_table(direct)
    source = sorted(
        make_records(DAY.isoformat(), "eu", 25) + make_records(DAY.isoformat(), "us", 25),
        key=lambda r: r["id"],
    )
    assert [r["id"] for r in rows] == [r["id"] for r in source]


def test_concurrent_runs_through_pgbouncer(pgbouncer: tuple[str, str], tmp_path: Path) -> None:
    """Three concurrent runs sharing two pooled server connections all exit 0 and land each row once."""
    pooled, direct = pgbouncer
    with psycopg.connect(direct, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS dailyfetch CASCADE")
        conn.execute("DROP TABLE IF EXISTS orders")
    api = FakeAPI(records_for=lambda d, p: make_records(d, p, 100), page_size=10, delay=0.01).start()
    try:
        config = tmp_path / "dailyfetch.toml"
        config.write_text(make_config(api.url, partitions=["eu", "us", "jp"], batch_size=20))
        argv = [
            *dailyfetch_exe(),
            "run",
            "-c",
            str(config),
            "--date",
            DAY.isoformat(),
            "--database-url",
            pooled,
        ]
        procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(3)]
        codes = [p.wait(timeout=120) for p in procs]
    finally:
        api.stop()
    assert codes == [0, 0, 0], [p.stderr.read().decode() if p.stderr else "" for p in procs]
    assert ledger_rows(direct, "SELECT count(*), count(DISTINCT id) FROM orders") == [(300, 300)]
    assert ledger_rows(direct, "SELECT status FROM dailyfetch.runs") == [("succeeded",)]
