"""Incremental runs against a real Datasette (SQLite compares ``updated_at__gt`` as text).

Datasette is found as ``$DAILYFETCH_DATASETTE``, in ``$DAILYFETCH_PEERS/bin`` (the venv that
``make test`` builds from requirements/peers.txt), or on the PATH. Without it the test skips
(fails under ``DAILYFETCH_STRICT=1``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from support.cli import run_cli, skip_or_fail
from support.configs import fetch_table, ledger_rows


def _datasette() -> str | None:
    peers = os.environ.get("DAILYFETCH_PEERS")
    for candidate in (os.environ.get("DAILYFETCH_DATASETTE"),
                      str(Path(peers) / "bin" / "datasette") if peers else None,
                      shutil.which("datasette")):  # fmt: skip
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Datasette:
    """A ``datasette serve`` process on a SQLite file, and the queries its access log shows it received."""

    def __init__(self, exe: str, db: Path, log: Path) -> None:
        self.port = _free_port()
        self.log = log
        self.proc = subprocess.Popen(
            [exe, "serve", str(db), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/-/versions.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"datasette did not start: {log.read_text()[-500:]}")

    def received(self, param: str) -> list[str]:
        """Every value of query parameter ``param`` in the access log, decoded, in order."""
        paths = re.findall(r'"GET (\S+) HTTP/1\.1"', self.log.read_text())
        return [v for p in paths for v in parse_qs(urlsplit(p).query).get(param, [])]

    def stop(self) -> None:
        """Stop the server (the process this test started)."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def datasette(tmp_path: Path) -> Iterator[tuple[Datasette, Path]]:
    """A running Datasette serving ``db.items`` (id, v, updated_at TEXT), and the SQLite file behind it."""
    exe = _datasette()
    if exe is None:
        skip_or_fail("datasette is not installed (pip install datasette, or set DAILYFETCH_DATASETTE)")
    db = tmp_path / "db.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT, updated_at TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, ?, ?)",
                         [(i, f"v{i}", f"2025-03-01T12:00:{i:02d}.000Z") for i in range(1, 11)])  # fmt: skip
    server = Datasette(str(exe), db, tmp_path / "datasette.log")
    yield server, db
    server.stop()


def test_datasette_gets_its_own_timestamp_text_back_and_every_change_lands(
    db_url: str, tmp_path: Path, datasette: tuple[Datasette, Path]
) -> None:
    """Against a real Datasette with no lookback: the mark goes back as ``….000Z`` and all 3 rows changed since land."""
    server, db = datasette
    config = tmp_path / "dailyfetch.toml"
    config.write_text(
        f'[job]\nname = "ds"\n[source]\nkind = "rest"\nurl = "{server.url}/db/items.json"\nrecords = "rows"\n'
        'params = { _shape = "objects", _size = "4" }\npagination = { kind = "next_url", path = "next_url" }\n'
        '[source.incremental]\ncursor = "updated_at"\nparam = "updated_at__gt"\n'
        'initial = "2025-01-01T00:00:00.000Z"\n'
        '[destination]\ntable = "items"\nprimary_key = ["id"]\nbatch_size = 4\n'
    )
    base = ["-c", str(config), "--database-url", db_url]
    first = run_cli("run", "--date", "2026-11-01", *base)
    assert first.returncode == 0, first.stderr
    assert len(fetch_table(db_url, table="items")) == 10

    changed = {2: "2025-03-01T12:00:10.250Z", 5: "2025-03-01T12:00:10.500Z", 7: "2025-03-01T12:00:10.750Z"}
    with sqlite3.connect(db) as conn:
        conn.executemany("UPDATE items SET v = ?, updated_at = ? WHERE id = ?",
                         [(f"v{i}-new", at, i) for i, at in changed.items()])  # fmt: skip
    second = run_cli("run", "--date", "2026-11-02", *base)
    assert second.returncode == 0, second.stderr
    rows = {r["id"]: (r["v"], r["updated_at"]) for r in fetch_table(db_url, table="items")}
    assert {i: rows[i] for i in changed} == {i: (f"v{i}-new", at) for i, at in changed.items()}
    assert set(server.received("updated_at__gt")) == {"2025-01-01T00:00:00.000Z", "2025-03-01T12:00:10.000Z"}
    marks = ledger_rows(db_url, "SELECT value FROM dailyfetch.cursors WHERE job = 'ds'")
    assert marks == [("2025-03-01T12:00:10.750Z",)]
