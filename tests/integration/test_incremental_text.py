"""Incremental marks against APIs that compare timestamps as text (SQLite/Datasette, json-server).

The server is a SQLite table behind a Datasette-shaped JSON API (support/sqlite_api.py):
``updated_at__gt`` is evaluated by SQLite as a byte-wise TEXT comparison, so a mark sent back
in another spelling than the API's own skips rows. Runs are real ``dailyfetch run`` processes
and rows are read back from PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import run_cli
from support.configs import fetch_table, ledger_rows
from support.sqlite_api import SQLiteTableAPI

JOB = "inc_text"

# (how the API writes a timestamp: second n of 2025-03-01 12:00, its `initial`, a later instant's text)
STYLES = {
    "js_toisostring": ("2025-03-01T12:00:{:02d}.000Z", "2025-01-01T00:00:00.000Z"),
    "sqlite_datetime": ("2025-03-01 12:00:{:02d}", "2025-01-01 00:00:00"),
}


def config_text(
    url: str, initial: str, lookback: str | None = None, batch_size: int = 4, api: str = "datasette"
) -> str:
    """An incremental job against the SQLite-backed API, shaped like Datasette or like json-server 1.0.

    Datasette pages by ``next_url`` and filters with ``updated_at__gt``; json-server pages by
    ``_page`` (which dailyfetch decodes typed) and filters with ``updated_at_gt``.
    """
    source = {
        "datasette": f'url = "{url}/db/items.json"\nrecords = "rows"\n'
        'params = { _shape = "objects", _size = "4" }\n'
        'pagination = { kind = "next_url", path = "next_url" }\n',
        "json-server": f'url = "{url}/items"\nrecords = "data"\nparams = {{ _per_page = "4" }}\n'
        'pagination = { kind = "page_number", param = "_page", start = 1 }\n',
    }[api]
    param = PARAM[api]
    return (
        f'[job]\nname = "{JOB}"\n[source]\nkind = "rest"\n{source}'
        f'[source.incremental]\ncursor = "updated_at"\nparam = "{param}"\ninitial = "{initial}"\n'
        + (f'lookback = "{lookback}"\n' if lookback else "")
        + f'[destination]\ntable = "items"\nprimary_key = ["id"]\nbatch_size = {batch_size}\n'
    )


PARAM = {"datasette": "updated_at__gt", "json-server": "updated_at_gt"}


def mark(db_url: str) -> tuple[str | None, str | None] | None:
    """The committed and the pending high-water mark, or None before any."""
    rows = ledger_rows(db_url, "SELECT value, pending FROM dailyfetch.cursors WHERE job = %s", JOB)
    return (rows[0][0], rows[0][1]) if rows else None


def table(db_url: str) -> dict[int, tuple[str, str]]:
    """The destination's rows: id -> (v, updated_at)."""
    return {r["id"]: (r["v"], r["updated_at"]) for r in fetch_table(db_url, table="items")}


def last_status(db_url: str) -> str:
    """The status of the job's latest run."""
    return str(ledger_rows(db_url, "SELECT status FROM dailyfetch.runs WHERE job = %s ORDER BY id DESC LIMIT 1",
                           JOB)[0][0])  # fmt: skip


@pytest.fixture
def sqlite_api() -> SQLiteTableAPI:
    """A running SQLite-backed table API."""
    server = SQLiteTableAPI().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.mark.parametrize("api", sorted(PARAM))
@pytest.mark.parametrize("style", sorted(STYLES))
def test_mark_is_sent_back_as_the_api_wrote_it_and_no_changed_row_is_skipped(
    db_url: str, tmp_path: Path, sqlite_api: SQLiteTableAPI, style: str, api: str
) -> None:
    """With no lookback, a text-comparing API receives the mark exactly as it sent it, and all 3 rows changed since land."""
    pattern, initial = STYLES[style]
    sqlite_api.put([(i, f"v{i}", pattern.format(i)) for i in range(1, 11)])
    config = tmp_path / "dailyfetch.toml"
    config.write_text(config_text(sqlite_api.url, initial, api=api))
    base = ["-c", str(config), "--database-url", db_url]

    first = run_cli("run", "--date", "2026-11-01", *base)
    assert first.returncode == 0, first.stderr
    assert len(table(db_url)) == 10
    sent_first = sqlite_api.received(PARAM[api])

    # Three rows change after the mark, within the text forms a SQLite-backed API keeps.
    later = {
        "js_toisostring": [
            "2025-03-01T12:00:10.250Z",
            "2025-03-01T12:00:10.500Z",
            "2025-03-01T12:00:10.750Z",
        ],
        "sqlite_datetime": ["2025-03-01 12:00:11", "2025-03-01 12:00:12", "2025-03-01 12:00:13"],
    }[style]
    sqlite_api.put([(2, "v2-new", later[0]), (5, "v5-new", later[1]), (7, "v7-new", later[2])])
    sent = len(sqlite_api.requests)
    second = run_cli("run", "--date", "2026-11-02", *base)
    assert second.returncode == 0, second.stderr
    rows = table(db_url)
    assert [rows[i] for i in (2, 5, 7)] == [("v2-new", later[0]), ("v5-new", later[1]), ("v7-new", later[2])]
    assert mark(db_url) == (later[2], None), "the mark is stored as the API wrote it"
    received = [q[PARAM[api]] for q in sqlite_api.requests[sent:] if PARAM[api] in q]
    assert received and set(received) == {pattern.format(10)}, "the exact text the API sent"
    assert sent_first == [initial], "initial is sent as written"


@pytest.mark.parametrize(
    ("style", "lookback", "since"),
    [
        ("js_toisostring", "1s", "2025-03-01T12:00:09.000Z"),
        ("js_toisostring", "0.25s", "2025-03-01T12:00:09.750Z"),
        ("sqlite_datetime", "1m", "2025-03-01 11:59:10"),
    ],
)
def test_lookback_keeps_the_apis_spelling(
    db_url: str, tmp_path: Path, sqlite_api: SQLiteTableAPI, style: str, lookback: str, since: str
) -> None:
    """``mark - lookback`` is written in the mark's own style (fraction digits, zone, separator)."""
    pattern, initial = STYLES[style]
    sqlite_api.put([(i, f"v{i}", pattern.format(i)) for i in range(1, 11)])
    config = tmp_path / "dailyfetch.toml"
    config.write_text(config_text(sqlite_api.url, initial, lookback=lookback))
    base = ["-c", str(config), "--database-url", db_url]
    assert run_cli("run", "--date", "2026-11-01", *base).returncode == 0
    sent = len(sqlite_api.requests)
    second = run_cli("run", "--date", "2026-11-02", *base)
    assert second.returncode == 0, second.stderr
    assert {q["updated_at__gt"] for q in sqlite_api.requests[sent:]} == {since}


@pytest.mark.parametrize("api", sorted(PARAM))
@pytest.mark.parametrize(
    ("poison", "described"),
    [("9999-12-31T00:00:00.000Z", "past"), ("N/A", "text")],
)
def test_a_poisoned_cursor_value_fails_the_run_names_the_record_and_keeps_the_mark(
    db_url: str, tmp_path: Path, sqlite_api: SQLiteTableAPI, poison: str, described: str, api: str
) -> None:
    """A record whose cursor is far in the future or not a timestamp fails the run naming its key; the mark stays."""
    pattern, initial = STYLES["js_toisostring"]
    sqlite_api.put([(i, f"v{i}", pattern.format(i)) for i in range(1, 11)])
    config = tmp_path / "dailyfetch.toml"
    config.write_text(config_text(sqlite_api.url, initial, api=api))
    base = ["-c", str(config), "--database-url", db_url]
    assert run_cli("run", "--date", "2026-11-01", *base).returncode == 0
    before = mark(db_url)

    # Rows 11..14 are the next run's first page (and batch); 15 carries the poison on the second.
    sqlite_api.put([(i, f"v{i}", f"2025-03-01T12:00:{i:02d}.000Z") for i in range(11, 15)])
    sqlite_api.put([(15, "bad", poison), (16, "v16", "2025-03-01T12:00:16.000Z")])
    failed = run_cli("run", "--date", "2026-11-02", *base)
    assert failed.returncode == 1, failed.stderr
    line = failed.stderr.strip().splitlines()[-1]
    assert "id=15" in line and "'updated_at'" in line and described in line, line
    assert last_status(db_url) == "failed"
    assert mark(db_url)[0] == before[0], "the mark did not move"  # type: ignore[index]
    rows = table(db_url)
    assert 14 in rows and 15 not in rows and 16 not in rows, "the poisoned batch did not commit"

    # Run again: the same failure, never a silent success with a stuck mark.
    again = run_cli("run", "--date", "2026-11-03", *base)
    assert again.returncode == 1 and "id=15" in again.stderr
    assert mark(db_url)[0] == before[0]  # type: ignore[index]


def test_a_first_value_that_is_not_a_timestamp_fails_the_first_run(
    db_url: str, tmp_path: Path, sqlite_api: SQLiteTableAPI
) -> None:
    """A first record's ``"N/A"`` cursor fails the first run naming it, instead of becoming a text mark."""
    sqlite_api.put([(1, "v1", "N/A"), *[(i, f"v{i}", f"2025-03-01T12:00:{i:02d}.000Z") for i in range(2, 6)]])
    config = tmp_path / "dailyfetch.toml"
    config.write_text(config_text(sqlite_api.url, "2025-01-01T00:00:00.000Z"))
    done = run_cli("run", "--date", "2026-11-01", "-c", str(config), "--database-url", db_url)
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert "id=1" in line and "'updated_at'" in line and "'N/A'" in line, line
    assert last_status(db_url) == "failed"
    assert mark(db_url) in (None, (None, None)), "no mark was recorded"


@pytest.mark.parametrize("stored", ["9999-12-31T00:00:00Z", "N/A"])
def test_a_poisoned_stored_mark_fails_the_run_and_names_the_reset_command(
    db_url: str, tmp_path: Path, sqlite_api: SQLiteTableAPI, stored: str
) -> None:
    """A mark poisoned by an earlier version (9999 or text) fails the run naming it and `dailyfetch state reset`."""
    pattern, initial = STYLES["js_toisostring"]
    sqlite_api.put([(i, f"v{i}", pattern.format(i)) for i in range(1, 6)])
    config = tmp_path / "dailyfetch.toml"
    config.write_text(config_text(sqlite_api.url, initial))
    base = ["-c", str(config), "--database-url", db_url]
    assert run_cli("run", "--date", "2026-11-01", *base).returncode == 0
    with __import__("psycopg").connect(db_url) as conn:
        conn.execute("UPDATE dailyfetch.cursors SET value = %s WHERE job = %s", (stored, JOB))
    sent = len(sqlite_api.requests)
    failed = run_cli("run", "--date", "2026-11-02", *base)
    assert failed.returncode == 1
    line = failed.stderr.strip().splitlines()[-1]
    assert repr(stored) in line and "dailyfetch state reset" in line, line
    assert len(sqlite_api.requests) == sent, "nothing was fetched with the poisoned mark"
    assert last_status(db_url) == "failed"

    assert run_cli("state", "reset", *base).returncode == 0
    fixed = run_cli("run", "--date", "2026-11-02", *base)
    assert fixed.returncode == 0, fixed.stderr
    assert mark(db_url) == (pattern.format(5), None)
