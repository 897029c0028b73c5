"""The report in a real browser: headless Chromium renders it offline, with no console errors.

Set ``DAILYFETCH_UPDATE_SCREENSHOT=1`` to copy the screenshot to ``docs/report.png``.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import struct
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dailyfetch import ledger
from support.cli import run_cli, skip_or_fail

CHROMIUM = "/usr/bin/chromium"
DAYS = 60
REPO = Path(__file__).resolve().parents[2]
CONFIG = """
[job]
name = "usgs-earthquakes"
logical_date = "yesterday"
[schedule]
expression = "cron(30 2 * * ? *)"
timezone = "UTC"
[source]
kind = "rest"
url = "https://earthquake.usgs.gov/fdsnws/event/1/query"
records = "features"
[destination]
table = "earthquakes"
primary_key = ["id"]
[notify]
urls = []
on = ["failure", "recovery", "low_volume"]
"""
FAILURES = {
    41: ("SourceError", "HTTP 503 Service Unavailable from https://earthquake.usgs.gov/fdsnws/event/1/query"
         "?format=geojson&starttime=...: gave up after 8 attempts over 120 s"),
    17: ("LoadError", "cannot write to public.earthquakes: value too long for type character varying(64) "
         "in column place <script>alert(1)</script>"),
    6: ("SourceError", "HTTP 429 Too Many Requests from https://earthquake.usgs.gov/fdsnws/event/1/query: "
        "rate limited for 300 s"),
}  # fmt: skip
INTERRUPTED = {29: "interrupted by SIGTERM; committed progress is kept and the next run resumes"}
MISSING = {23}
LOW = {11: 212}


def _history(db_url: str, today: date) -> None:
    """About 60 days of a daily job: steady volume, three failures, an interruption, a missing day."""
    rng = random.Random(20261128)
    with psycopg.connect(db_url, autocommit=True) as conn:
        ledger.ensure_ledger(conn)
        for back in range(DAYS, 0, -1):
            day = today - timedelta(days=back)
            if back in MISSING:
                continue
            status, error_class, error = "succeeded", None, None
            rows = int(rng.gauss(1260, 110)) + (140 if day.weekday() in (0, 1) else 0)
            seconds = max(6.0, rng.gauss(14.5, 2.2)) * rows / 1260
            if back in FAILURES:
                status, (error_class, error) = "failed", FAILURES[back]
                rows, seconds = rng.randrange(0, 500), rng.uniform(30, 130)
            elif back in INTERRUPTED:
                status, error_class, error = "interrupted", "RunInterrupted", INTERRUPTED[back]
                rows, seconds = 640, 9.3
            rows = LOW.get(back, rows)
            started = datetime.combine(day + timedelta(days=1), time(2, 30), tzinfo=UTC) + timedelta(
                seconds=rng.uniform(1, 20)
            )
            run = conn.execute(
                "INSERT INTO dailyfetch.runs (job, logical_date, status, rows, attempts, started_at, finished_at, "
                "error_class, error) VALUES ('usgs-earthquakes', %s, %s, %s, 1, %s, %s, %s, %s) RETURNING id",
                (day, status, rows, started, started + timedelta(seconds=seconds), error_class, error),
            ).fetchone()
            assert run is not None
            conn.execute(
                "INSERT INTO dailyfetch.partitions (run_id, key, vars, status, rows) VALUES (%s, '*', '{}', %s, %s)",
                (run[0], status, rows),
            )


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={tmp / 'chromium-profile'}", "--enable-logging=stderr", "--v=0", *args,
        ],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.fixture
def report(db_url: str, tmp_path: Path) -> Path:
    """A report written by the installed command from 60 days of realistic ledger history."""
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    _history(db_url, datetime.now(UTC).date())
    config = tmp_path / "dailyfetch.toml"
    config.write_text(CONFIG)
    output = tmp_path / "report.html"
    done = run_cli(
        "report", "-c", str(config), "-o", str(output), "--days", str(DAYS), "--database-url", db_url
    )
    assert done.returncode == 0, done.stderr
    return output


def test_report_renders_offline_without_console_errors(report: Path, tmp_path: Path) -> None:
    """Chromium renders the report from file:// with no console messages; calendar and charts are in the DOM."""
    done = _chromium("--dump-dom", report.as_uri(), tmp=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    dom = done.stdout
    cells: dict[str, Any] = {}
    for state in ("succeeded", "failed", "interrupted", "missing"):
        cells[state] = len(re.findall(rf'<g class="day s-{state}"', dom))
    assert cells == {"succeeded": DAYS - 5, "failed": 3, "interrupted": 1, "missing": 1}
    assert len(re.findall(r'<g class="day s-', dom)) == DAYS
    assert len(re.findall(r'<svg class="chart chart-(rows|duration)"', dom)) == 2
    assert len(re.findall(r'<rect class="bar s-', dom)) == 2 * (DAYS - 1)
    assert dom.count('<tr class="failure">') == 4
    assert '<rect class="bar s-succeeded low"' in dom  # the low-volume day is flagged
    assert "<script" not in dom


def test_screenshot_of_the_report(report: Path, tmp_path: Path) -> None:
    """Chromium takes a 1280x1400 screenshot of the report (copied to docs/ on request)."""
    shot = tmp_path / "report.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1280,1400", report.as_uri(), tmp=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line for line in done.stderr.splitlines() if ":CONSOLE" in line] == []
    assert _png_size(shot) == (1280, 1400)
    assert shot.stat().st_size > 50_000, "the screenshot looks blank"
    if os.environ.get("DAILYFETCH_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO / "docs" / "report.png")
