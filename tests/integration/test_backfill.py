"""`dailyfetch backfill` and missing dates against the fake API and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from dailyfetch import ledger
from dailyfetch.backfill import ChildExit, run_backfill
from dailyfetch.missed import missing_dates, print_missing
from support.cli import run_cli
from support.configs import ledger_rows, load, make_config
from support.fakeapi import FakeAPI


def _table(stdout: str) -> dict[str, list[str]]:
    """Backfill table rows keyed by date: [outcome, rows, seconds, error...]."""
    return {line.split()[0]: line.split()[1:] for line in stdout.splitlines() if line[:4].isdigit()}


def test_backfill_runs_each_date_once_and_skips_succeeded_ones(
    tmp_path: Path, api: FakeAPI, db_url: str
) -> None:
    """Three dates run with two workers; a wider second backfill skips them and runs only the new date."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(api.url))
    args = ["backfill", "-c", str(config), "--database-url", db_url, "--workers", "2"]
    first = run_cli(*args, "--start", "2026-11-01", "--end", "2026-11-03")
    assert first.returncode == 0, first.stderr
    rows = _table(first.stdout)
    assert sorted(rows) == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert all(r[:2] == ["succeeded", "50"] for r in rows.values())
    assert first.stdout.splitlines()[0].split() == ["date", "outcome", "rows", "seconds", "error"]
    assert "3 dates: 3 succeeded" in first.stdout
    sent = len(api.requests)
    second = run_cli(*args, "--start", "2026-11-01", "--end", "2026-11-04")
    assert second.returncode == 0, second.stderr
    rows = _table(second.stdout)
    assert [rows[d][0] for d in sorted(rows)] == ["skipped", "skipped", "skipped", "succeeded"]
    assert all(request["path"].split("/")[2] == "2026-11-04" for request in api.requests[sent:])
    assert ledger_rows(db_url, "SELECT count(*) FROM orders") == [(200,)]


def test_a_failed_date_exits_1_and_the_table_names_it(tmp_path: Path, api: FakeAPI, db_url: str) -> None:
    """When the API answers 404 for one date, backfill exits 1, lists that date as failed with the error."""
    api.fail = lambda seen: (404, {}, b'{"error": "gone"}') if "2026-11-02" in seen["path"] else None
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(api.url))
    done = run_cli(
        "backfill",
        "-c",
        str(config),
        "--database-url",
        db_url,
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-03",
    )
    assert done.returncode == 1, done.stderr
    rows = _table(done.stdout)
    assert rows["2026-11-01"][0] == rows["2026-11-03"][0] == "succeeded"
    assert rows["2026-11-02"][0] == "failed" and "404" in " ".join(rows["2026-11-02"])
    assert "failed: 2026-11-02;" in done.stdout


def test_force_runs_succeeded_dates_again_as_a_new_generation(
    tmp_path: Path, api: FakeAPI, db_url: str
) -> None:
    """--force does not skip a succeeded date: it runs it again as generation 2."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(api.url))
    args = [
        "backfill",
        "-c",
        str(config),
        "--database-url",
        db_url,
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-01",
    ]
    assert run_cli(*args).returncode == 0
    forced = run_cli(*args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert _table(forced.stdout)["2026-11-01"][0] == "succeeded"
    assert ledger_rows(db_url, "SELECT max(generation) FROM dailyfetch.runs") == [(2,)]


def test_backfill_runs_up_to_workers_dates_at_once(tmp_path: Path, api: FakeAPI, db_url: str) -> None:
    """With --workers 3, six dates run three at a time, never more."""
    alive, peak, lock = 0, 0, threading.Lock()

    def runner(day: date) -> ChildExit:
        nonlocal alive, peak
        with lock:
            alive += 1
            peak = max(peak, alive)
        time.sleep(0.2)
        with lock:
            alive -= 1
        return ChildExit(0)

    config = load(make_config(api.url))
    results = run_backfill(
        config,
        tmp_path / "x.toml",
        date(2026, 11, 1),
        date(2026, 11, 6),
        workers=3,
        database_url=db_url,
        runner=runner,
    )
    assert peak == 3
    assert [r.logical_date.day for r in results] == [1, 2, 3, 4, 5, 6]


def _succeed(db_url: str, job: str, *days: date) -> None:
    with psycopg.connect(db_url) as conn:
        ledger.ensure_ledger(conn)
        for day in days:
            conn.execute(
                "INSERT INTO dailyfetch.runs (job, logical_date, status) VALUES (%s, %s, 'succeeded')",
                (job, day),
            )


def test_missing_dates_are_scheduled_dates_without_a_succeeded_run(api: FakeAPI, db_url: str) -> None:
    """A weekday schedule's missing dates skip weekends and succeeded dates, and start at the first run."""
    text = make_config(api.url) + '[schedule]\nexpression = "cron(30 2 ? * MON-FRI *)"\n'
    config = load(text)
    until = datetime(2026, 11, 10, tzinfo=UTC)
    with psycopg.connect(db_url) as conn:
        assert missing_dates(config, conn, date(2026, 11, 2), until) == [
            date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 5), date(2026, 11, 8)
        ]  # fmt: skip
        assert ledger_rows(db_url, "SELECT to_regclass('dailyfetch.runs') IS NULL") == [(True,)]
    _succeed(db_url, "orders", date(2026, 11, 3))
    _succeed(db_url, "other-job", date(2026, 11, 4))
    with psycopg.connect(db_url) as conn:
        assert missing_dates(config, conn, date(2026, 11, 2), until) == [
            date(2026, 11, 2), date(2026, 11, 4), date(2026, 11, 5), date(2026, 11, 8)
        ]  # fmt: skip
        assert missing_dates(config, conn, None, until) == [
            date(2026, 11, 4),
            date(2026, 11, 5),
            date(2026, 11, 8),
        ]


def test_print_missing_lists_dates_and_the_backfill_command(
    api: FakeAPI, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`runs --missing` output: one date a line and the backfill command on stderr, or a JSON array."""
    config = load(make_config(api.url) + '[schedule]\nexpression = "cron(30 2 * * ? *)"\ncatch_up_days = 3\n')
    today = datetime.now(UTC).date()
    _succeed(db_url, "orders", today - timedelta(days=2))
    print_missing(config, since=None, as_json=True, database_url=db_url)
    fired_today = datetime.now(UTC) >= datetime(today.year, today.month, today.day, 2, 30, tzinfo=UTC)
    expected = [str(today - timedelta(days=1))] if fired_today else []
    assert json.loads(capsys.readouterr().out) == expected  # since defaults to the first run, today - 2
    print_missing(config, since=str(today - timedelta(days=3)), as_json=False, database_url=db_url)
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == str(today - timedelta(days=3))
    assert f"dailyfetch backfill --start {today - timedelta(days=3)} --end" in err
