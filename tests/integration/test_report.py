"""The run-history report: every day state from a real ledger, escaping, self-containment, the CLI."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dailyfetch import ledger
from dailyfetch.history import RunRecord
from dailyfetch.redact import register_secret
from dailyfetch.report import build_report, collect_report, scheduled_dates
from support.cli import run_cli
from support.configs import load

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=PARIS)
SECRET = "sk-report-0123456789"
EVIL = f"<script>alert('x')</script> HTTP 500 with key {SECRET} & more"
CONFIG = """
[job]
name = "orders"
logical_date = "{rule}"
[schedule]
expression = "{expression}"
timezone = "Europe/Paris"
[source]
kind = "rest"
url = "http://api.invalid/{{date}}"
[destination]
table = "orders"
[notify]
on = ["failure", "recovery", "low_volume"]
"""


def _config(expression: str = "cron(30 2 * * ? *)", rule: str = "yesterday") -> Any:
    return load(CONFIG.format(expression=expression, rule=rule))


def _insert(
    conn: psycopg.Connection[Any],
    day: date,
    status: str,
    rows: int,
    *,
    generation: int = 1,
    error: str | None = None,
) -> None:
    started = datetime.combine(day + timedelta(days=1), time(2, 30), tzinfo=PARIS)
    finished = None if status == "running" else started + timedelta(seconds=40 + rows % 7)
    run = conn.execute(
        "INSERT INTO dailyfetch.runs (job, logical_date, generation, status, rows, attempts, started_at, "
        "finished_at, error_class, error) VALUES ('orders', %s, %s, %s, %s, 1, %s, %s, %s, %s) RETURNING id",
        (day, generation, status, rows, started, finished, "SourceError" if error else None, error),
    ).fetchone()
    assert run is not None
    conn.execute(
        "INSERT INTO dailyfetch.partitions (run_id, key, vars, status, rows) VALUES (%s, '*', '{}', %s, %s)",
        (run[0], "succeeded" if status == "succeeded" else status, rows),
    )


STATES = {
    date(2026, 11, 18): "failed",
    date(2026, 11, 20): "missing",
    date(2026, 11, 22): "interrupted",
    date(2026, 11, 27): "running",
}


@pytest.fixture
def history(db_url: str) -> str:
    """Nov 14-27: successes, a failure (with a hostile error), a missing day, an interruption, a run in flight."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        ledger.ensure_ledger(conn)
        for offset in range(14):
            day = date(2026, 11, 14) + timedelta(days=offset)
            state = STATES.get(day, "succeeded")
            if state == "missing":
                continue
            error = (
                EVIL if state == "failed" else ("interrupted by SIGTERM" if state == "interrupted" else None)
            )
            _insert(conn, day, state, 1000 + offset * 10 if state == "succeeded" else 120, error=error)
        # Nov 16 failed first, then a forced second generation succeeded: the calendar shows the latest.
        _insert(conn, date(2026, 11, 16), "failed", 5, generation=2, error="older attempt")
        conn.execute(
            "UPDATE dailyfetch.runs SET generation = 3 WHERE logical_date = '2026-11-16' AND generation = 1"
        )
    return db_url


def _cells(document: str) -> dict[str, str]:
    """The state of each calendar day, by ISO date."""
    return {
        day: state for state, day in re.findall(r'<g class="day s-([a-z]+)" data-date="([0-9-]+)"', document)
    }


def test_report_shows_every_state(history: str) -> None:
    """Succeeded, failed, interrupted, missing and running days each get their own cell colour."""
    register_secret(SECRET)
    document = build_report(_config(), days=14, database_url=history, now=NOW)
    cells = _cells(document)
    assert len(cells) == 14
    assert cells["2026-11-14"] == "succeeded"
    assert cells["2026-11-16"] == "succeeded"  # the newest generation decides
    for day, state in STATES.items():
        assert cells[day.isoformat()] == state
    assert sorted(set(cells.values())) == ["failed", "interrupted", "missing", "running", "succeeded"]
    assert document.count("<title>") >= 14 + 1  # a tooltip on every day, plus the page title


def test_error_messages_are_escaped_and_redacted(history: str) -> None:
    """A hostile error message is shown as text, never as markup, and without its secret."""
    register_secret(SECRET)
    document = build_report(_config(), days=14, database_url=history, now=NOW)
    assert "<script" not in document
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in document
    assert SECRET not in document
    assert '<tr class="failure">' in document and "interrupted by SIGTERM" in document


def test_report_is_self_contained(history: str) -> None:
    """The page loads nothing: no scripts, stylesheets, images, fonts or remote URLs."""
    document = build_report(_config(), days=14, database_url=history, now=NOW)
    for forbidden in ("<script", "<link", "<img", "@import", "src=", "url(http", "@font-face"):
        assert forbidden not in document, forbidden
    assert not re.search(r"(href|src)=\"https?://", document)
    assert "<style>" in document and "prefers-color-scheme: dark" in document


def test_charts_have_a_bar_per_run_and_a_median_line(history: str) -> None:
    """Both charts draw one bar per logical date with a run, and the trailing median line."""
    document = build_report(_config(), days=14, database_url=history, now=NOW)
    for kind in ("rows", "duration"):
        chart = re.search(rf'<svg class="chart chart-{kind}".*?</svg>', document, re.S)
        assert chart is not None
        runs_with_duration = 13 if kind == "rows" else 12  # the running day has no duration yet
        assert chart.group(0).count('<rect class="bar') == runs_with_duration
        assert '<path class="line median"' in chart.group(0)
    assert '<path class="line threshold"' in document  # low_volume is among the events


def test_schedule_in_words_and_next_five_fires(history: str) -> None:
    """The schedule is described in words with its next five fire times and the dates they fetch."""
    document = build_report(_config(), days=14, database_url=history, now=NOW)
    assert "cron(30 2 * * ? *)" in document and "at 02:30 every day" in document
    fires = re.findall(r"<li><time>([^<]+)</time> → fetches ([0-9-]+)</li>", document)
    assert fires[0] == ("Sun 2026-11-29 02:30 CET", "2026-11-28")
    assert len(fires) == 5


def test_days_before_the_first_run_are_not_missing(db_url: str) -> None:
    """A job that started recently is not blamed for the days before its first run."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        ledger.ensure_ledger(conn)
        _insert(conn, date(2026, 11, 25), "succeeded", 10)
    cells = _cells(build_report(_config(), days=14, database_url=db_url, now=NOW))
    assert cells["2026-11-24"] == "none"
    assert cells["2026-11-26"] == cells["2026-11-27"] == "missing"


def test_a_day_whose_fire_is_still_ahead_is_not_missing(db_url: str) -> None:
    """Before today's 02:30 fire, yesterday's logical date is upcoming, not missing."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        ledger.ensure_ledger(conn)
        _insert(conn, date(2026, 11, 20), "succeeded", 10)
    early = datetime(2026, 11, 28, 1, 0, tzinfo=PARIS)
    cells = _cells(build_report(_config(), days=14, database_url=db_url, now=early))
    assert cells["2026-11-27"] == "upcoming"
    assert cells["2026-11-26"] == "missing"


def test_an_empty_ledger_still_renders(db_url: str) -> None:
    """With no ledger at all the report renders, every day blank, and says there are no runs."""
    document = build_report(_config(), days=7, database_url=db_url, now=NOW)
    assert set(_cells(document).values()) == {"none"}
    assert "no runs yet" in document and "No failed or interrupted runs" in document


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("yesterday", {"Sun", "Mon", "Tue", "Wed", "Thu"}),  # a Monday fire fetches Sunday
        ("today", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
    ],
)
def test_fire_days_map_to_logical_dates_by_the_rule(rule: str, expected: set[str]) -> None:
    """Weekday fires cover the same weekdays with logical_date = today, the day before with yesterday."""
    config = _config("cron(0 6 ? * MON-FRI *)", rule)
    fired, upcoming = scheduled_dates(config, date(2026, 11, 2), date(2026, 11, 15), NOW)
    assert not upcoming
    assert {d.strftime("%a") for d in fired} == expected
    assert len(fired) == 10


def test_rate_schedules_and_minute_crons_are_cheap() -> None:
    """A schedule firing every minute still maps a year of days quickly, each day once."""
    import time as clock

    config = _config("cron(* * * * ? *)")
    started = clock.monotonic()
    fired, _ = scheduled_dates(config, date(2025, 11, 28), date(2026, 11, 27), NOW)
    assert len(fired) == 365
    assert clock.monotonic() - started < 5


def test_collect_report_counts_and_failures_without_a_database() -> None:
    """collect_report needs no database: counts per state and the newest failures first."""
    start = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)
    runs = [
        RunRecord(
            1, date(2026, 11, 25), 1, "failed", 3, 2, start, start + timedelta(seconds=5), "E", "first"
        ),
        RunRecord(
            2, date(2026, 11, 26), 1, "failed", 3, 1, start, start + timedelta(seconds=9), "E", "second"
        ),
        RunRecord(
            3, date(2026, 11, 27), 1, "succeeded", 3, 1, start, start + timedelta(seconds=7), None, None
        ),
    ]
    data = collect_report(_config(), runs, days=7, now=NOW, first_run_day=date(2026, 11, 25))
    assert (data.count("failed"), data.count("succeeded"), data.count("missing")) == (2, 1, 0)
    assert [r.error for r in data.failures] == ["second", "first"]


def test_cli_writes_the_report(history: str, tmp_path: Path) -> None:
    """dailyfetch report -o FILE writes one HTML file and says where."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(CONFIG.format(expression="cron(30 2 * * ? *)", rule="yesterday"))
    output = tmp_path / "out" / "report.html"
    result = run_cli(
        "report", "-c", str(config), "-o", str(output), "--days", "30", "--database-url", history
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {output}" in result.stdout
    document = output.read_text(encoding="utf-8")
    assert document.startswith("<!doctype html>") and len(_cells(document)) == 30


def test_cli_report_needs_a_config(tmp_path: Path) -> None:
    """Without a config file the command fails with one line and exit code 2."""
    result = run_cli("report", "-c", str(tmp_path / "absent.toml"), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1
