"""Exactly once: kill -9 at random points and re-run, concurrent triggers, expired claims."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from support.cli import dailyfetch_exe, run_cli
from support.configs import fetch_table, ledger_rows, make_config
from support.fakeapi import FakeAPI, make_records

DAY = date(2026, 11, 3)
PER_PARTITION = 200
TRIALS = int(os.environ.get("DAILYFETCH_KILL_TRIALS", "10"))


@pytest.fixture
def slow_api() -> Iterator[FakeAPI]:
    """A fake API with 10 records a page and 30 ms of latency per request."""
    server = FakeAPI(
        records_for=lambda d, p: make_records(d, p, PER_PARTITION), page_size=10, delay=0.03
    ).start()
    yield server
    server.stop()


def _source(day: date = DAY) -> list[dict[str, Any]]:
    return sorted(make_records(day.isoformat(), "eu", PER_PARTITION) + make_records(day.isoformat(), "us", PER_PARTITION),
                  key=lambda r: r["id"])  # fmt: skip


def _assert_table_equals_source(db_url: str) -> None:
    rows = fetch_table(db_url)
    source = _source()
    assert [r["id"] for r in rows] == [r["id"] for r in source], "missing or duplicate rows"
    for row, record in zip(rows, source, strict=True):
        assert {k: row[k] for k in record} == record


def _start(config: Path, db_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*dailyfetch_exe(), "run", "-c", str(config), "--date", DAY.isoformat(), "--database-url", db_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait_for_committed(db_url: str, proc: subprocess.Popen[bytes], rows: int) -> None:
    """Poll the ledger until ``rows`` rows have committed or the run has ended."""
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        if _committed_rows(db_url)[0] >= rows:
            return
        time.sleep(0.005)


def _committed_rows(db_url: str) -> tuple[int, str | None]:
    try:
        rows = ledger_rows(db_url, "SELECT coalesce(sum(rows), 0) FROM dailyfetch.partitions")
        status = ledger_rows(db_url, "SELECT status FROM dailyfetch.runs ORDER BY id DESC LIMIT 1")
    except psycopg.errors.UndefinedTable:
        return 0, None
    return int(rows[0][0]), (status[0][0] if status else None)


@pytest.mark.parametrize("write", ["merge", "append", "replace"])
def test_kill_9_at_random_points_then_rerun_lands_exactly_the_source(
    write: str, slow_api: FakeAPI, db_url: str, tmp_path: Path
) -> None:
    """After kill -9 at a random moment and a re-run, the table equals the source: nothing missing or doubled."""
    rng = random.Random(f"{write}-{db_url}")
    trials = TRIALS if write == "merge" else max(3, TRIALS // 2)
    mid_run_kills = 0
    for trial in range(trials):
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS dailyfetch CASCADE")
            conn.execute("DROP TABLE IF EXISTS orders")
        config = tmp_path / f"kill-{trial}.toml"
        config.write_text(make_config(slow_api.url, write=write, batch_size=30,
                                      primary_key='["id"]' if write != "append" else ""))  # fmt: skip
        proc = _start(config, db_url)
        if trial % 2:
            time.sleep(rng.uniform(0.4, 1.8))  # any moment: start-up, mid-run, or after the end
        else:  # surely mid-run: once a random share of the rows has committed, plus up to 30 ms
            _wait_for_committed(db_url, proc, rng.randint(1, 2 * PER_PARTITION - 1))
            time.sleep(rng.uniform(0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        committed, status = _committed_rows(db_url)
        if 0 < committed < 2 * PER_PARTITION and status != "succeeded":
            mid_run_kills += 1
        rerun = run_cli("run", "-c", str(config), "--date", DAY.isoformat(), "--database-url", db_url)
        assert rerun.returncode == 0, rerun.stderr
        _assert_table_equals_source(db_url)
        assert ledger_rows(db_url, "SELECT status FROM dailyfetch.runs") == [("succeeded",)]
    print(f"{write}: {trials} trials, {mid_run_kills} killed mid-run with rows committed")
    assert mid_run_kills >= max(1, trials // 4), "too few kills landed mid-run for the test to mean anything"


def test_three_concurrent_triggers_all_exit_0_without_duplicates(
    slow_api: FakeAPI, db_url: str, tmp_path: Path
) -> None:
    """Three `dailyfetch run` started at once for the same date all exit 0 and land each row once."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(slow_api.url, partitions=["eu", "us"], batch_size=30))
    procs = [_start(config, db_url) for _ in range(3)]
    codes = [p.wait(timeout=120) for p in procs]
    errors = [p.stderr.read().decode() if p.stderr else "" for p in procs]
    assert codes == [0, 0, 0], errors
    _assert_table_equals_source(db_url)
    assert ledger_rows(db_url, "SELECT status, rows FROM dailyfetch.runs") == [
        ("succeeded", 2 * PER_PARTITION)
    ]
    assert len(slow_api.requests) <= 2 * (PER_PARTITION // 10 + 1) + 2, "partitions were fetched twice"


def test_a_claim_held_by_a_vanished_worker_becomes_available_when_its_lease_expires(
    slow_api: FakeAPI, db_url: str, tmp_path: Path
) -> None:
    """A partition claimed by a worker on another host is skipped until its lease runs out, then taken."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(slow_api.url, partitions=["eu"], batch_size=30))
    first = run_cli("run", "-c", str(config), "--date", DAY.isoformat(), "--database-url", db_url)
    assert first.returncode == 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE dailyfetch.runs SET status = 'running'")
        conn.execute(
            "UPDATE dailyfetch.partitions SET status = 'running', progress = NULL, rows = 0, "
            "claimed_by = 'other-host:1:abcdef', lease_until = now() + interval '60 seconds'"
        )
        conn.execute("TRUNCATE orders")
    blocked = run_cli("run", "-c", str(config), "--date", DAY.isoformat(), "--database-url", db_url)
    assert blocked.returncode == 0
    assert "in_progress_elsewhere" in blocked.stderr
    assert fetch_table(db_url) == []
    with psycopg.connect(db_url, autocommit=True) as conn:  # the other host's lease runs out
        conn.execute("UPDATE dailyfetch.partitions SET lease_until = now() - interval '1 second'")
    taken = run_cli("run", "-c", str(config), "--date", DAY.isoformat(), "--database-url", db_url)
    assert taken.returncode == 0, taken.stderr
    assert len(fetch_table(db_url)) == PER_PARTITION
    assert ledger_rows(db_url, "SELECT status, attempts FROM dailyfetch.partitions") == [("succeeded", 2)]


def test_progress_that_went_back_sends_the_worker_to_the_durable_point(db_url: str) -> None:
    """If commits a worker saw acknowledged are gone (an asynchronous commit lost to a crash behind a
    pooler), its next batch does not write over the gap: it fails retryably so the worker resumes."""
    from dailyfetch import ledger
    from dailyfetch.database import connect
    from dailyfetch.errors import DatabaseUnavailableError
    from dailyfetch.plan import plan_run
    from support.configs import load

    plan = plan_run(load(make_config("http://127.0.0.1:9", partitions=["eu"])), DAY)
    conn = connect(db_url)
    try:
        ledger.ensure_ledger(conn)
        run, _ = ledger.open_run(conn, plan, force=False)
        claim = ledger.claim_partition(conn, run.id, "w1", 60, [])
        assert claim is not None and (claim.rows, claim.pages) == (0, 0)
        save = {"lease_seconds": 60, "rows": 10, "pages": 1}
        with conn.transaction():
            ledger.save_progress(conn, run.id, claim.key, "w1", {"page": 2}, expect=(0, 0), **save)
        with (
            pytest.raises(DatabaseUnavailableError, match="acknowledged commits were lost"),
            conn.transaction(),
        ):
            ledger.save_progress(conn, run.id, claim.key, "w1", {"page": 4}, expect=(20, 2), **save)
        with conn.transaction():
            ledger.save_progress(conn, run.id, claim.key, "w1", {"page": 3}, expect=(10, 1), **save)
        again = ledger.reclaim(conn, run.id, claim.key, "w1")
        assert again is not None and (again.rows, again.pages, again.progress) == (20, 2, {"page": 3})
    finally:
        conn.close()


def test_single_batch_partitions_finishing_together_do_not_deadlock(db_url: str) -> None:
    """Two workers whose only batch resets and saves their partition, then locks the run: no deadlock.

    Updating one's partition row twice in a transaction takes ``FOR KEY SHARE`` on the run's
    row (the foreign key); the run lock must not conflict with that, or each worker waits on
    the other until PostgreSQL's deadlock detector kills one.
    """
    from dailyfetch import ledger
    from dailyfetch.database import connect
    from dailyfetch.plan import plan_run
    from support.configs import load

    plan = plan_run(load(make_config("http://127.0.0.1:9", partitions=["eu", "us"])), DAY)
    first, second = connect(db_url), connect(db_url)
    try:
        ledger.ensure_ledger(first)
        run, _ = ledger.open_run(first, plan, force=False)
        claims = [ledger.claim_partition(c, run.id, w, 60, []) for c, w in ((first, "w1"), (second, "w2"))]
        assert all(claims)
        save = {"lease_seconds": 60, "rows": 0, "pages": 1, "expect": (0, 0)}
        for conn, worker, claim in ((first, "w1", claims[0]), (second, "w2", claims[1])):
            assert claim is not None
            conn.execute("BEGIN")
            ledger.reset_partition_rows(conn, run.id, claim.key)
            ledger.save_progress(conn, run.id, claim.key, worker, {"done": True}, **save)
        first.execute("SET LOCAL lock_timeout = '3s'")
        ledger.lock_run(first, run.id)  # under FOR UPDATE this waited on the second's share lock
        assert claims[0] is not None and not ledger.complete_partition(first, run.id, claims[0].key, "w1")
        first.execute("COMMIT")
        second.execute("SET LOCAL lock_timeout = '3s'")
        ledger.lock_run(second, run.id)
        assert claims[1] is not None and ledger.complete_partition(second, run.id, claims[1].key, "w2")
        ledger.finish_run(second, run.id)
        second.execute("COMMIT")
    finally:
        first.close()
        second.close()
    assert ledger_rows(db_url, "SELECT status FROM dailyfetch.runs") == [("succeeded",)]
