"""examples/earthquakes.toml against a local replay of the USGS FDSN event service."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dailyfetch.config_file import load_config
from dailyfetch.runner import RunResult, run_job
from support.usgs import QUERY_PATH, USGSReplay

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "earthquakes.toml"
DAY = date(2026, 11, 27)
LIMIT = 500
RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(request: pytest.FixtureRequest) -> RunCli:
    """``run_cli`` of tests/conftest.py (a plain ``from conftest import`` finds ours)."""
    root = request.config.pluginmanager.get_plugin(str(REPO / "tests" / "conftest.py"))
    assert root is not None, "tests/conftest.py is not loaded"
    helper: RunCli = root.run_cli
    return helper


@pytest.fixture
def usgs(monkeypatch: pytest.MonkeyPatch) -> Iterator[USGSReplay]:
    """A running USGS replay, with USGS_API pointing the example at it."""
    replay = USGSReplay().start()
    monkeypatch.setenv("USGS_API", replay.url)
    yield replay
    replay.stop()


def run_example(db_url: str, day: date = DAY) -> RunResult:
    """Load the example (reading USGS_API now) and run it in-process for ``day``."""
    return run_job(load_config(EXAMPLE), logical_date=day, database_url=db_url)


def table_rows(db_url: str) -> dict[str, dict[str, Any]]:
    """public.earthquakes as {id: row}."""
    with psycopg.connect(db_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT * FROM public.earthquakes")
        return {row["id"]: row for row in cur.fetchall()}


def expected_offsets(total: int) -> list[int]:
    """The 1-based offsets dailyfetch should ask for: every page, then one empty page."""
    offsets, offset = [], 1
    while True:
        offsets.append(offset)
        got = min(LIMIT, max(0, total - (offset - 1)))
        if got == 0:
            return offsets
        offset += got


def utc_midnight(day: date) -> str:
    """``day``'s UTC midnight as the example renders it."""
    return f"{day.isoformat()}T00:00:00"


@pytest.mark.parametrize("past_end", ["empty_collection", "no_content"])
def test_run_lands_exactly_the_utc_days_events(usgs: USGSReplay, db_url: str, past_end: str) -> None:
    """A run lands the day's events once, paging by 1-based offset to an empty page or a 204."""
    usgs.past_end = past_end
    events = usgs.day(DAY)
    assert len(events) > 2 * LIMIT  # several pages

    result = run_example(db_url)

    assert (result.outcome, result.rows) == ("succeeded", len(events))
    rows = table_rows(db_url)
    assert sorted(rows) == sorted(e["id"] for e in events)
    queries = [r["query"] for r in usgs.requests]
    assert {r["path"] for r in usgs.requests} == {QUERY_PATH}
    assert [int(q["offset"]) for q in queries] == expected_offsets(len(events))
    for q in queries:
        assert q["starttime"] == utc_midnight(DAY)
        assert q["endtime"] == utc_midnight(DAY + timedelta(days=1))
        assert (q["format"], q["orderby"], q["limit"]) == ("geojson", "time-asc", str(LIMIT))


def test_properties_and_geometry_survive_as_jsonb(usgs: USGSReplay, db_url: str) -> None:
    """Each Feature's properties and geometry land as equal jsonb, non-ASCII place names intact."""
    events = {e["id"]: e for e in usgs.day(DAY)}
    assert run_example(db_url).outcome == "succeeded"

    rows = table_rows(db_url)
    assert set(rows) == set(events)
    for event_id, row in rows.items():
        assert row["properties"] == events[event_id]["properties"]
        assert row["geometry"] == events[event_id]["geometry"]
        assert row["type"] == "Feature"
    with psycopg.connect(db_url) as conn:
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = 'earthquakes'"
            ).fetchall()
        )
        places = [p for (p,) in conn.execute("SELECT properties->>'place' FROM earthquakes")]
    assert types["properties"] == types["geometry"] == "jsonb"
    non_ascii = [p for p in places if not p.isascii()]
    assert non_ascii, "the replay should serve non-ASCII place names"
    assert any(ch in "".join(non_ascii) for ch in "ŌáñşöĀ")


def test_cli_run_then_rerun_is_a_no_op(usgs: USGSReplay, db_url: str, run_cli: RunCli) -> None:
    """The CLI lands the day; running the same date again exits 0 without sending a request."""
    events = usgs.day(DAY)
    args = ("run", "-c", str(EXAMPLE), "--database-url", db_url, "--date", DAY.isoformat())
    env = {"USGS_API": usgs.url}

    first = run_cli(*args, env=env)
    assert first.returncode == 0, first.stderr
    sent = len(usgs.requests)
    assert sent == len(expected_offsets(len(events)))
    assert sorted(table_rows(db_url)) == sorted(e["id"] for e in events)

    again = run_cli(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert len(usgs.requests) == sent
    assert '"run.skipped"' in again.stderr
    assert len(table_rows(db_url)) == len(events)


def test_cli_runs_json_shows_one_succeeded_run(usgs: USGSReplay, db_url: str, run_cli: RunCli) -> None:
    """After a CLI run, 'dailyfetch runs --json' lists exactly one succeeded run with its rows."""
    events = usgs.day(DAY)
    common = ("-c", str(EXAMPLE), "--database-url", db_url)
    env = {"USGS_API": usgs.url}
    assert run_cli("run", *common, "--date", DAY.isoformat(), env=env).returncode == 0

    runs = run_cli("runs", *common, "--json", env=env)

    assert runs.returncode == 0, runs.stderr
    listed = json.loads(runs.stdout)
    assert [(r["job"], r["logical_date"], r["status"], r["rows"]) for r in listed] == [
        ("usgs-earthquakes", DAY.isoformat(), "succeeded", len(events))
    ]


def test_event_at_midnight_is_fetched_twice_and_stored_once(usgs: USGSReplay, db_url: str) -> None:
    """FDSN's endtime is inclusive: a midnight event is in two days' windows, yet stored once."""
    midnight_ms = int(datetime(2026, 11, 28, tzinfo=UTC).timestamp() * 1000)
    boundary = json.loads(json.dumps(usgs.day(DAY)[0]))
    boundary["id"] = "us7000mdnt"
    boundary["properties"].update(time=midnight_ms, code="7000mdnt", ids=",us7000mdnt,")
    usgs.extra_events.append(boundary)
    before, after = usgs.day(DAY), usgs.day(DAY + timedelta(days=1))

    first = run_example(db_url, DAY)
    second = run_example(db_url, DAY + timedelta(days=1))

    assert (first.outcome, first.rows) == ("succeeded", len(before) + 1)
    assert (second.outcome, second.rows) == ("succeeded", len(after) + 1)
    rows = table_rows(db_url)
    assert len(rows) == len(before) + len(after) + 1
    assert rows["us7000mdnt"]["properties"]["time"] == midnight_ms


def test_rejected_request_fails_the_run_once_with_the_services_message(
    usgs: USGSReplay, db_url: str, tmp_path: Path
) -> None:
    """A 400 from the service (limit above 20000) fails the run at once, quoting the reason."""
    text = EXAMPLE.read_text(encoding="utf-8").replace(f"limit = {LIMIT}\n", "limit = 20001\n")
    assert "limit = 20001" in text
    config = tmp_path / "earthquakes.toml"
    config.write_text(text, encoding="utf-8")

    result = run_job(load_config(config), logical_date=DAY, database_url=db_url)

    assert result.outcome == "failed"
    assert result.exit_code == 1
    assert result.error is not None
    assert "HTTP 400" in result.error
    assert 'Bad limit value "20001"' in result.error
    assert len(usgs.requests) == 1  # a 4xx is not retried
