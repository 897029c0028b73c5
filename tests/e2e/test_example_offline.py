"""The shipped example on a machine that cannot reach earthquake.usgs.gov fails fast, in a line."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/earthquakes.toml"
HOST = "earthquake.usgs.gov"
RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_cli(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """``run_cli`` from tests/conftest.py, with USGS_API unset so the example targets USGS."""
    monkeypatch.delenv("USGS_API", raising=False)
    root = request.config.pluginmanager.get_plugin(str(REPO / "tests" / "conftest.py"))
    assert root is not None, "tests/conftest.py is not loaded"
    helper: RunCli = root.run_cli
    return helper


@pytest.fixture
def offline() -> None:
    """Skip when this machine can resolve earthquake.usgs.gov: the test is about being offline."""
    try:
        socket.getaddrinfo(HOST, 443, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return
    pytest.skip(f"{HOST} resolves on this machine, so the offline failure cannot be observed")


def test_run_fails_fast_naming_the_unreachable_host(offline: None, db_url: str, run_cli: RunCli) -> None:
    """Offline, 'dailyfetch run' exits 1 in under 15 s with one Error line naming the host."""
    started = time.monotonic()
    result = run_cli("run", "-c", EXAMPLE, "--database-url", db_url, cwd=REPO, timeout=60)
    elapsed = time.monotonic() - started

    assert result.returncode == 1, result.stderr
    assert elapsed < 15
    last = result.stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"Error: cannot reach host {HOST}: ")
    assert "does not resolve" in last
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [last]

    runs = run_cli("runs", "-c", EXAMPLE, "--database-url", db_url, cwd=REPO)
    assert runs.returncode == 0, runs.stderr
    assert " failed " in runs.stdout and HOST in runs.stdout


def test_check_prints_the_first_request_without_sending_it(db_url: str, run_cli: RunCli) -> None:
    """'dailyfetch check' exits 0 and prints yesterday's first USGS request, offline or not."""
    before = datetime.now(UTC).date() - timedelta(days=1)
    result = run_cli("check", "-c", EXAMPLE, "--database-url", db_url, cwd=REPO)
    after = datetime.now(UTC).date() - timedelta(days=1)

    assert result.returncode == 0, result.stderr
    expected = [
        f"first request: GET https://{HOST}/fdsnws/event/1/query?format=geojson"
        f"&starttime={day}T00:00:00&endtime={day + timedelta(days=1)}T00:00:00"
        "&orderby=time-asc&offset=1&limit=500"
        for day in {before, after}
    ]
    assert any(line in expected for line in result.stdout.splitlines()), result.stdout
    assert "nothing was sent." in result.stdout
