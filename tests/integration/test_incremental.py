"""Incremental cursors: fetch what changed since the high-water mark, across runs, updates, late arrivals and a crash."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from support.cli import dailyfetch_exe, run_cli
from support.configs import fetch_table, ledger_rows
from support.fakeapi import FakeAPI

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def stamp(minutes: float) -> str:
    """An ISO 8601 UTC timestamp ``minutes`` after T0."""
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


class ChangingSource:
    """A dataset that changes between runs, served filtered by ``updated_since`` and paged by ``page``."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {
            i: {"id": i, "v": f"v{i}", "updated_at": stamp(i)} for i in range(1, 31)
        }
        self.lock = threading.Lock()
        self.hold_from: int | None = None  # pages from this one on wait for ``release``
        self.held = threading.Event()
        self.release = threading.Event()

    def answer(self, req: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        since = datetime.fromisoformat(req["query"]["updated_since"].replace("Z", "+00:00"))
        page = int(req["query"].get("page", 1))
        if self.hold_from is not None and page >= self.hold_from:
            self.held.set()
            self.release.wait(30)
        with self.lock:
            matching = sorted(
                (
                    r
                    for r in self.rows.values()
                    if datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")) >= since
                ),
                key=lambda r: (r["updated_at"], r["id"]),
            )
        chunk = matching[(page - 1) * 5 : page * 5]
        return 200, {}, json.dumps({"items": chunk}).encode()


def config_text(url: str) -> str:
    """An incremental job against the changing source."""
    return (
        '[job]\nname = "inc"\n[source]\nkind = "rest"\n'
        f'url = "{url}/x/y/z"\nrecords = "items"\n'
        'pagination = { kind = "page_number", param = "page", start = 1 }\n'
        "[source.incremental]\n"
        'cursor = "updated_at"\nparam = "updated_since"\ninitial = "2026-10-31T00:00:00Z"\nlookback = "5m"\n'
        '[destination]\ntable = "items"\nprimary_key = ["id"]\nbatch_size = 5\n'
    )


def sinces(api: FakeAPI, start: int = 0) -> list[str]:
    """The distinct updated_since values the API received, in order, from request ``start``."""
    seen: list[str] = []
    for req in api.requests[start:]:
        value = req["query"].get("updated_since")
        if value and value not in seen:
            seen.append(value)
    return seen


def assert_table_is_source(db_url: str, source: ChangingSource) -> None:
    """The table holds exactly the source's current rows."""
    rows = fetch_table(db_url, table="items")
    want = sorted(source.rows.values(), key=lambda r: r["id"])
    assert [(r["id"], r["v"], r["updated_at"]) for r in rows] == [
        (r["id"], r["v"], r["updated_at"]) for r in want
    ]


def mark(db_url: str) -> str | None:
    """The committed high-water mark."""
    rows = ledger_rows(db_url, "SELECT value FROM dailyfetch.cursors WHERE job = 'inc'")
    return rows[0][0] if rows else None


def test_incremental_job_across_runs_with_updates_late_arrivals_and_a_crash(
    db_url: str, tmp_path: Path
) -> None:
    """Three runs plus a crash: each asks since mark - lookback, updates and late arrivals land, nothing is skipped."""
    source = ChangingSource()
    api = FakeAPI(fail=source.answer).start()
    config = tmp_path / "dailyfetch.toml"
    config.write_text(config_text(api.url))
    base = ["-c", str(config), "--database-url", db_url]
    try:
        first = run_cli("run", "--date", "2026-11-01", *base)
        assert first.returncode == 0, first.stderr
        assert sinces(api) == ["2026-10-31T00:00:00Z"]
        assert_table_is_source(db_url, source)
        assert mark(db_url) == stamp(30)

        # Between runs: two updates, one new record, and a late arrival older than the mark.
        with source.lock:
            source.rows[5] = {"id": 5, "v": "v5-new", "updated_at": stamp(40)}
            source.rows[6] = {"id": 6, "v": "v6-new", "updated_at": stamp(40)}
            source.rows[31] = {"id": 31, "v": "v31", "updated_at": stamp(41)}
            source.rows[32] = {"id": 32, "v": "late", "updated_at": stamp(28)}
        sent = len(api.requests)
        second = run_cli("run", "--date", "2026-11-02", *base)
        assert second.returncode == 0, second.stderr
        assert sinces(api, sent) == [stamp(25)], "mark minus the 5 minute lookback"
        assert_table_is_source(db_url, source)
        assert mark(db_url) == stamp(41)

        # A crash mid-run: the mark does not move; the re-run asks for the same since and completes.
        # The run is killed while the API holds its page 3 (pages 1 and 2 answered): mid-run
        # however fast or slow the machine is.
        with source.lock:
            for i in range(33, 80):
                source.rows[i] = {"id": i, "v": f"v{i}", "updated_at": stamp(50 + i)}
        source.hold_from = 3
        sent = len(api.requests)
        proc = subprocess.Popen([*dailyfetch_exe(), "run", "--date", "2026-11-03", *base],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        held = source.held.wait(60)
        if held:
            time.sleep(0.3)  # pages 1 and 2 written meanwhile, as far as the run gets
        proc.send_signal(signal.SIGKILL)  # also when the assertion below fails: no run left behind
        proc.wait()
        assert held, "the run never asked for page 3"
        source.hold_from = None
        source.release.set()
        assert mark(db_url) == stamp(41), "a crash never advances the mark"
        third = run_cli("run", "--date", "2026-11-03", *base)
        assert third.returncode == 0, third.stderr
        assert sinces(api, sent) == [stamp(36)]
        assert_table_is_source(db_url, source)
        assert mark(db_url) == stamp(129)
        changes = ledger_rows(db_url, "SELECT new_value, set_by FROM dailyfetch.cursor_changes ORDER BY id")
        assert [c[0] for c in changes] == [stamp(30), stamp(41), stamp(129)]
        assert all(c[1].startswith("run ") for c in changes)
    finally:
        source.release.set()
        api.stop()


def test_state_show_set_and_reset(db_url: str, tmp_path: Path) -> None:
    """`state reset` makes the next run start at initial; `state set` moves the mark; both are recorded."""
    source = ChangingSource()
    api = FakeAPI(fail=source.answer).start()
    config = tmp_path / "dailyfetch.toml"
    config.write_text(config_text(api.url))
    base = ["-c", str(config), "--database-url", db_url]
    try:
        assert run_cli("run", "--date", "2026-11-01", *base).returncode == 0
        shown = json.loads(run_cli("state", "show", "--json", *base).stdout)
        assert shown[0]["value"] == stamp(30) and shown[0]["set_by"].startswith("run ")

        assert run_cli("state", "reset", *base).returncode == 0
        sent = len(api.requests)
        assert run_cli("run", "--date", "2026-11-02", *base).returncode == 0
        assert sinces(api, sent) == ["2026-10-31T00:00:00Z"], "after a reset the run starts at initial"

        done = run_cli("state", "set", "2026-11-01T00:20:00Z", *base)
        assert done.returncode == 0, done.stderr
        sent = len(api.requests)
        assert run_cli("run", "--date", "2026-11-03", *base).returncode == 0
        assert sinces(api, sent) == [stamp(15)]
        assert_table_is_source(db_url, source)
        who = ledger_rows(db_url, "SELECT set_by FROM dailyfetch.cursor_changes ORDER BY id")
        assert any("via dailyfetch state reset" in w[0] for w in who)
        assert any("via dailyfetch state set" in w[0] for w in who)
        bad = run_cli("state", "set", "2026-11-01", "--partition", "nope", *base)
        assert bad.returncode == 2 and "--partition" in bad.stderr
    finally:
        api.stop()


def test_incremental_backfill_runs_in_order_and_never_refetches_or_skips(db_url: str, tmp_path: Path) -> None:
    """Catching up three dates of an incremental job (asked for 2 workers) runs them one after another:
    each starts at the mark the previous one committed (minus the lookback), and every change lands."""
    source = ChangingSource()
    seen: list[str] = []

    def answer(req: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        since = req["query"]["updated_since"]
        if req["query"].get("page", "1") == "1" and since not in seen:
            seen.append(since)
            if len(seen) > 1:  # the source changes before every run but the first
                with source.lock:
                    k = len(seen)
                    source.rows[100 + k] = {"id": 100 + k, "v": f"new{k}", "updated_at": stamp(50 + 10 * k)}
        return source.answer(req)

    api = FakeAPI(fail=answer).start()
    config = tmp_path / "dailyfetch.toml"
    config.write_text(config_text(api.url))
    try:
        done = run_cli("backfill", "-c", str(config), "--database-url", db_url, "--workers", "2",
                       "--start", "2026-11-01", "--end", "2026-11-03")  # fmt: skip
    finally:
        api.stop()
    assert done.returncode == 0, done.stderr
    assert "3 dates: 3 succeeded" in done.stdout
    # Each run asked from the previous run's mark minus 5 minutes: no range twice, none skipped.
    assert sinces(api) == ["2026-10-31T00:00:00Z", stamp(25), stamp(65)]
    assert_table_is_source(db_url, source)
    assert mark(db_url) == stamp(80)
