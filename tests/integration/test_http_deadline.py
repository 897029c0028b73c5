"""Deadlines against a server that drips its body one byte at a time (each read succeeds, none ends).

The server is raw sockets: it promises a long body with Content-Length and then writes
one byte every 0.3 s, so no single read ever waits past ``read_timeout``. What is
asserted is how many bytes the server managed to write before dailyfetch gave up,
and what the ledger says; wall time only bounds the test as a hang guard.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import dailyfetch_exe, run_cli
from support.configs import ledger_rows
from support.raw_http import RawRequest, RawServer, response_head

DAY = "2026-11-05"
DRIP = 0.3  # seconds between body bytes
BODY = json.dumps({"items": [{"id": i, "pad": "x" * 40} for i in range(60)]}).encode()  # ~3 KB: 15 min


def _drip(server: RawServer, conn: socket.socket, _request: RawRequest) -> None:
    conn.sendall(response_head(200, {"Content-Type": "application/json", "Content-Length": str(len(BODY))}))
    for i in range(len(BODY)):
        if server.closed.wait(DRIP):
            return
        try:
            conn.sendall(BODY[i : i + 1])
        except OSError:
            return  # the client hung up: the count stays where it is
        server.count()
    raise OSError("body complete")  # one response per connection


def _config(tmp_path: Path, url: str, *, job: str = "", source: str = "") -> Path:
    path = tmp_path / "dailyfetch.toml"
    path.write_text(
        f'[job]\nname = "drip"\n{job}\n'
        f'[source]\nkind = "rest"\nurl = "{url}/items"\nrecords = "items"\nretry_attempts = 1\n{source}\n'
        '[destination]\ntable = "drip"\nprimary_key = ["id"]\n'
    )
    return path


@pytest.fixture
def drip() -> Iterator[RawServer]:
    """A server that drips its one response body."""
    server = RawServer(_drip).start()
    yield server
    server.stop()


def test_request_timeout_is_a_total_deadline_for_one_request(
    drip: RawServer, tmp_path: Path, db_url: str
) -> None:
    """A body dripping one byte per 0.3 s fails at [source] request_timeout (1.5 s), not when the body ends."""
    config = _config(tmp_path, drip.url, source="request_timeout = 1.5\nread_timeout = 5")
    done = run_cli("run", "-c", str(config), "--date", DAY, "--database-url", db_url, timeout=90)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "request_timeout" in last and f"{drip.url}/items" in last, last
    assert len(drip.requests) == 1
    assert drip.sent <= 1.5 / DRIP + 3, f"the server wrote {drip.sent} bytes after the deadline passed"
    ((status, error),) = ledger_rows(db_url, "SELECT status, error FROM dailyfetch.runs")
    assert status == "failed" and "request_timeout" in error


def test_the_run_deadline_ends_a_dripping_read(drip: RawServer, tmp_path: Path, db_url: str) -> None:
    """With [job] timeout = 1.5s and no request_timeout set, the dripping read ends at the run's deadline: interrupted, exit 1."""
    config = _config(tmp_path, drip.url, job='timeout = "1.5s"', source="read_timeout = 5")
    done = run_cli("run", "-c", str(config), "--date", DAY, "--database-url", db_url, timeout=90)
    assert done.returncode == 1, done.stderr
    assert "[job].timeout = 1.5s" in done.stderr.strip().splitlines()[-1]
    assert drip.sent <= 1.5 / DRIP + 3, f"the server wrote {drip.sent} bytes after the deadline passed"
    ((status, error_class),) = ledger_rows(db_url, "SELECT status, error_class FROM dailyfetch.runs")
    assert (status, error_class) == ("interrupted", "RunInterrupted")


def test_sigterm_during_a_hung_read_is_interrupted_at_once(
    drip: RawServer, tmp_path: Path, db_url: str
) -> None:
    """SIGTERM while a body drips: the read is aborted at once (not at the grace's end), exit 143, status interrupted."""
    config = _config(tmp_path, drip.url, job='stop_grace = "20s"', source="read_timeout = 5")
    argv = [*dailyfetch_exe(), "run", "-c", str(config), "--date", DAY, "--database-url", db_url]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        guard = time.monotonic() + 60
        while drip.sent < 2 and proc.poll() is None and time.monotonic() < guard:
            time.sleep(0.05)
        assert drip.sent >= 2, "the read never started"
        proc.send_signal(signal.SIGTERM)
        at_signal = drip.sent
        code = proc.wait(timeout=60)
        after = drip.sent - at_signal
        stderr = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 143, stderr
    assert after <= 3, f"the server wrote {after} more bytes after SIGTERM: the read was not aborted"
    assert stderr.strip().splitlines()[-1].startswith("Error: stopped by SIGTERM")
    ((status, error_class),) = ledger_rows(db_url, "SELECT status, error_class FROM dailyfetch.runs")
    assert (status, error_class) == ("interrupted", "RunInterrupted")


def test_an_oauth2_token_endpoint_that_drips_is_bound_by_request_timeout(
    drip: RawServer, tmp_path: Path, db_url: str
) -> None:
    """The OAuth2 token request made inside a request's auth flow keeps to that request's request_timeout."""
    auth = (
        f'auth = {{ kind = "oauth2_client_credentials", token_url = "{drip.url}/token", '
        'client_id = "id-1", client_secret = "${CLIENT_SECRET}" }'
    )
    config = _config(tmp_path, drip.url, source=f"request_timeout = 1.5\nread_timeout = 5\n{auth}")
    done = run_cli(
        "run", "-c", str(config), "--date", DAY, "--database-url", db_url,
        env={"CLIENT_SECRET": "s3cret-oauth-77"}, timeout=90,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "request_timeout" in done.stderr.strip().splitlines()[-1]
    assert [r.path for r in drip.requests] == ["/token"]
    assert drip.sent <= 1.5 / DRIP + 3, (
        f"the token endpoint wrote {drip.sent} bytes after the deadline passed"
    )
