"""[job] window against the fake API and PostgreSQL: what the server receives, per-hour runs, backfill, missing."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from dailyfetch.config import Config
from dailyfetch.ledger_schema import SCHEMA_VERSION
from dailyfetch.missed import missing_dates
from dailyfetch.runner import run_job
from support.cli import run_cli
from support.configs import ledger_rows, load, make_config
from support.fakeapi import FakeAPI

PARAMS = (
    'params = { from = "{start}", to = "{end}", from_utc = "{start_utc:%Y-%m-%dT%H:%MZ}", day = "{date}" }'
)


def windowed(api_url: str, window: str, timezone: str, expression: str = "cron(5 * * * ? *)") -> str:
    """A config for the fake API whose requests carry the window's bounds as query values."""
    text = make_config(api_url, kind="none", partitions=["eu"], extra_source=PARAMS)
    text = text.replace("[job]\n", f'[job]\nwindow = "{window}"\n', 1)
    return text + f'[schedule]\nexpression = "{expression}"\ntimezone = "{timezone}"\n'


def received(api: FakeAPI, since: int = 0) -> list[tuple[str, str, str, str]]:
    """The (from, to, from_utc, day) query values of the requests the server received."""
    return [
        (r["query"]["from"], r["query"]["to"], r["query"]["from_utc"], r["query"]["day"])
        for r in api.requests[since:]
    ]


def run(config: Config, key: date, db_url: str) -> str:
    """Run one window and return its outcome."""
    return run_job(config, logical_date=key, database_url=db_url).outcome


def test_hourly_job_sends_each_hour_and_records_a_run_per_hour(api: FakeAPI, db_url: str) -> None:
    """An hourly job on an ordinary day asks for one hour per run and the ledger has a row per hour."""
    config = load(windowed(api.url, "1h", "Europe/Berlin"))
    for hour in (0, 1, 13):
        assert run(config, datetime(2026, 6, 10, hour), db_url) == "succeeded"
    assert received(api) == [
        ("2026-06-10T00:00:00+02:00", "2026-06-10T01:00:00+02:00", "2026-06-09T22:00Z", "2026-06-10"),
        ("2026-06-10T01:00:00+02:00", "2026-06-10T02:00:00+02:00", "2026-06-09T23:00Z", "2026-06-10"),
        ("2026-06-10T13:00:00+02:00", "2026-06-10T14:00:00+02:00", "2026-06-10T11:00Z", "2026-06-10"),
    ]
    assert ledger_rows(
        db_url,
        "SELECT logical_date, logical_time, generation, status FROM dailyfetch.runs ORDER BY logical_time",
    ) == [(date(2026, 6, 10), datetime(2026, 6, 10, hour), 1, "succeeded") for hour in (0, 1, 13)]
    sent = len(api.requests)
    assert run(config, datetime(2026, 6, 10, 1), db_url) == "already_succeeded"
    assert len(api.requests) == sent


def test_hourly_job_across_the_fall_back_and_spring_forward_hours(api: FakeAPI, db_url: str) -> None:
    """New York's repeated 01:00 hour is one two-hour window; on the spring-forward day 01:00 ends at 03:00 EDT."""
    config = load(windowed(api.url, "1h", "America/New_York"))
    assert run(config, datetime(2026, 11, 1, 1), db_url) == "succeeded"
    assert run(config, datetime(2026, 3, 8, 1), db_url) == "succeeded"
    assert run(config, datetime(2026, 3, 8, 3), db_url) == "succeeded"
    assert received(api) == [
        ("2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T05:00Z", "2026-11-01"),
        ("2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T06:00Z", "2026-03-08"),
        ("2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00", "2026-03-08T07:00Z", "2026-03-08"),
    ]


def test_daily_job_on_an_ordinary_and_a_dst_day(api: FakeAPI, db_url: str) -> None:
    """A daily job asks for midnight to midnight: 24 hours, and 23 on Berlin's spring-forward day."""
    config = load(windowed(api.url, "1d", "Europe/Berlin", "cron(30 2 * * ? *)"))
    assert run(config, date(2026, 6, 10), db_url) == "succeeded"
    assert run(config, date(2026, 3, 29), db_url) == "succeeded"
    assert run(config, date(2026, 10, 25), db_url) == "succeeded"
    assert received(api) == [
        ("2026-06-10T00:00:00+02:00", "2026-06-11T00:00:00+02:00", "2026-06-09T22:00Z", "2026-06-10"),
        ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", "2026-03-28T23:00Z", "2026-03-29"),
        ("2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00", "2026-10-24T22:00Z", "2026-10-25"),
    ]
    assert ledger_rows(db_url, "SELECT logical_time FROM dailyfetch.runs ORDER BY 1") == [
        (datetime(2026, 3, 29),),
        (datetime(2026, 6, 10),),
        (datetime(2026, 10, 25),),
    ]


def test_backfill_over_hours_runs_one_child_per_existing_hour(
    tmp_path: Path, api: FakeAPI, db_url: str
) -> None:
    """backfill 00:00-04:00 on New York's spring-forward day runs 00, 01, 03 and 04 (02:00 does not exist)."""
    path = tmp_path / "dailyfetch.toml"
    path.write_text(windowed(api.url, "1h", "America/New_York"))
    args = ["backfill", "-c", str(path), "--database-url", db_url, "--workers", "2"]
    done = run_cli(*args, "--start", "2026-03-08T00", "--end", "2026-03-08T04:00")
    assert done.returncode == 0, done.stderr
    table = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines() if line[:4].isdigit()}
    expected = ["2026-03-08T00:00", "2026-03-08T01:00", "2026-03-08T03:00", "2026-03-08T04:00"]
    assert sorted(table) == expected and set(table.values()) == {"succeeded"}
    assert ledger_rows(
        db_url, "SELECT to_char(logical_time, 'YYYY-MM-DD\"T\"HH24:MI') FROM dailyfetch.runs ORDER BY 1"
    ) == [(label,) for label in expected]
    again = run_cli(*args, "--start", "2026-03-08T03", "--end", "2026-03-08T05")
    assert again.returncode == 0, again.stderr
    rows = {line.split()[0]: line.split()[1] for line in again.stdout.splitlines() if line[:4].isdigit()}
    assert rows == {
        "2026-03-08T03:00": "skipped",
        "2026-03-08T04:00": "skipped",
        "2026-03-08T05:00": "succeeded",
    }


def test_missing_lists_the_hours_without_a_succeeded_run(api: FakeAPI, db_url: str) -> None:
    """runs --missing for an hourly cron lists the hours it scheduled that have no succeeded run."""
    config = load(windowed(api.url, "1h", "America/New_York"))
    assert run(config, datetime(2026, 3, 8, 0), db_url) == "succeeded"
    assert run(config, datetime(2026, 3, 8, 3), db_url) == "succeeded"
    until = datetime(2026, 3, 8, 5, 30, tzinfo=ZoneInfo("America/New_York"))
    with psycopg.connect(db_url) as conn:
        missing = missing_dates(config, conn, date(2026, 3, 8), until)
    assert missing == [datetime(2026, 3, 8, 1), datetime(2026, 3, 8, 4)]


def test_a_date_off_the_grid_or_in_the_gap_exits_2_with_one_line(
    tmp_path: Path, api: FakeAPI, db_url: str
) -> None:
    """run --date 2026-03-08T01:30 (not an hour start) and T02 (skipped by the clocks) are config errors."""
    path = tmp_path / "dailyfetch.toml"
    path.write_text(windowed(api.url, "1h", "America/New_York"))
    off = run_cli("run", "-c", str(path), "--database-url", db_url, "--date", "2026-03-08T01:30")
    assert off.returncode == 2
    assert off.stderr.strip().splitlines()[-1] == (
        "Error: --date: '2026-03-08T01:30' is not the start of a window; [job] window = '1h' starts windows "
        "on the hour (this one starts 2026-03-08T01:00)"
    )
    gap = run_cli("run", "-c", str(path), "--database-url", db_url, "--date", "2026-03-08T02")
    assert gap.returncode == 2
    assert "does not exist in America/New_York" in gap.stderr
    assert api.requests == []


V3_LEDGER = """
CREATE SCHEMA dailyfetch;
CREATE TABLE dailyfetch.meta (version int NOT NULL);
INSERT INTO dailyfetch.meta VALUES (1), (2), (3);
CREATE TABLE dailyfetch.runs (
    id bigserial PRIMARY KEY, job text NOT NULL, logical_date date NOT NULL,
    generation int NOT NULL DEFAULT 1,
    status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    rows bigint NOT NULL DEFAULT 0, attempts int NOT NULL DEFAULT 0, partitions int NOT NULL DEFAULT 1,
    started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz, error_class text, error text,
    UNIQUE (job, logical_date, generation)
);
CREATE TABLE dailyfetch.partitions (
    run_id bigint NOT NULL REFERENCES dailyfetch.runs (id) ON DELETE CASCADE, key text NOT NULL,
    vars jsonb NOT NULL, status text NOT NULL DEFAULT 'pending', rows bigint NOT NULL DEFAULT 0,
    pages bigint NOT NULL DEFAULT 0, progress jsonb, attempts int NOT NULL DEFAULT 0, claimed_by text,
    lease_until timestamptz, started_at timestamptz, finished_at timestamptz, updated_at timestamptz,
    error_class text, error text, bad_records bigint NOT NULL DEFAULT 0, bad_sample jsonb,
    PRIMARY KEY (run_id, key)
);
INSERT INTO dailyfetch.runs (job, logical_date, status, rows) VALUES
    ('orders', '2026-11-01', 'succeeded', 25), ('orders', '2026-11-02', 'failed', 0);
INSERT INTO dailyfetch.partitions (run_id, key, vars, status, rows, attempts)
    SELECT id, 'region=eu', '{"region": "eu"}', status, rows, 1 FROM dailyfetch.runs;
"""


def test_a_version_3_ledger_is_upgraded_in_place(api: FakeAPI, db_url: str) -> None:
    """A v3 ledger gets logical_time from its dates, keeps its runs, and then holds one run per hour."""
    with psycopg.connect(db_url) as conn:
        conn.execute(V3_LEDGER)
    daily = load(windowed(api.url, "1d", "UTC", "cron(30 2 * * ? *)"))
    assert run(daily, date(2026, 11, 1), db_url) == "already_succeeded"
    assert api.requests == []
    assert run(daily, date(2026, 11, 2), db_url) == "succeeded"
    assert ledger_rows(db_url, "SELECT max(version) FROM dailyfetch.meta") == [(SCHEMA_VERSION,)]
    assert ledger_rows(
        db_url, "SELECT id, logical_date, logical_time, status FROM dailyfetch.runs ORDER BY id"
    ) == [
        (1, date(2026, 11, 1), datetime(2026, 11, 1), "succeeded"),
        (2, date(2026, 11, 2), datetime(2026, 11, 2), "succeeded"),
    ]
    hourly = load(windowed(api.url, "1h", "UTC"))
    assert run(hourly, datetime(2026, 11, 3, 0), db_url) == "succeeded"
    assert run(hourly, datetime(2026, 11, 3, 1), db_url) == "succeeded"
    assert ledger_rows(db_url, "SELECT count(*) FROM dailyfetch.runs WHERE logical_date = '2026-11-03'") == [
        (2,)
    ]
    with psycopg.connect(db_url) as conn:  # an insert as version 3 code writes it still lands, at midnight
        conn.execute("INSERT INTO dailyfetch.runs (job, logical_date) VALUES ('old', '2026-11-04')")
    assert ledger_rows(db_url, "SELECT logical_time FROM dailyfetch.runs WHERE job = 'old'") == [
        (datetime(2026, 11, 4),)
    ]


def test_hourly_append_restarts_one_hour_without_touching_the_others(api: FakeAPI, db_url: str) -> None:
    """Append with an hour window: each hour's rows carry its start; --force on one hour replaces only it."""
    text = make_config(
        api.url, kind="none", partitions=["eu"], extra_source=PARAMS, write="append", primary_key=""
    ).replace("[job]\n", '[job]\nwindow = "1h"\n', 1)
    config = load(text + '[schedule]\nexpression = "cron(5 * * * ? *)"\ntimezone = "Europe/Berlin"\n')
    assert config.destination.write_mode == "append"
    for hour in (10, 11):
        assert run(config, datetime(2026, 6, 10, hour), db_url) == "succeeded"
    again = run_job(config, logical_date=datetime(2026, 6, 10, 10), database_url=db_url, force=True)
    assert again.outcome == "succeeded", again.error
    per_window = ledger_rows(
        db_url,
        "SELECT _dailyfetch_window, _dailyfetch_date, count(*), count(DISTINCT id) FROM orders "
        "GROUP BY 1, 2 ORDER BY 1",
    )
    per_hour = len(api.records_for("2026-06-10", "eu"))
    assert per_window == [
        (datetime(2026, 6, 10, hour), date(2026, 6, 10), per_hour, per_hour) for hour in (10, 11)
    ]
