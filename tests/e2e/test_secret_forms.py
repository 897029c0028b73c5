"""Secrets in every derived form stay out of every output: Basic's base64, URL-encoded forms, server-issued tokens.

The API here behaves as real ones do: it checks HTTP Basic auth (RFC 7617), hands
out next-page URLs that carry a session token in their query (``?token=``), and
echoes what it got (the Authorization header, the token) in a 500 error body. The
run is then resumed, so the token must come back from the ledger intact.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlencode, urlsplit

import psycopg
import pytest

from support.cli import run_cli

DAY = "2026-11-05"
USER = "svc-reader"
PASSWORD = "pw>?~secret-Ω-9911"  # base64 of user:password holds '+' and '/'; URL-encoding changes it
SERVER_TOKEN = "sess/tok+en=4c4d5e6f7a8b"  # issued by the API in its next-page URLs
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def forms(secret: str) -> set[str]:
    """The forms a secret can take in text: raw, URL-encoded (both ways), base64, JSON-escaped."""
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(secret.encode()).decode().rstrip("="),
        json.dumps(secret, ensure_ascii=True)[1:-1],
    }


FORBIDDEN = forms(PASSWORD) | forms(BASIC) | forms(SERVER_TOKEN)


class _API:
    """Page 1 leads to page 2 with ``?token=``; page 2 fails with an echo until ``healthy``."""

    def __init__(self) -> None:
        self.healthy = False
        self.received: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                api.received.append({"query": query, "authorization": self.headers.get("Authorization")})
                if self.headers.get("Authorization") != f"Basic {BASIC}":
                    status, body = 401, {"error": "unauthorized"}
                elif "token" not in query:
                    nxt = f"{api.url}/items?{urlencode({'token': SERVER_TOKEN, 'page': 2})}"
                    status, body = 200, {"items": [{"id": 1}, {"id": 2}], "next": nxt}
                elif query["token"] != [SERVER_TOKEN]:
                    status, body = 403, {"error": "bad session"}
                elif not api.healthy:  # what a misbehaving API echoes back
                    status, body = (
                        500,
                        {"error": f"denied {self.headers.get('Authorization')} {query['token'][0]}"},
                    )
                else:
                    status, body = 200, {"items": [{"id": 3}], "next": None}
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def echo_api() -> Iterator[_API]:
    """The echoing API."""
    api = _API()
    yield api
    api.server.shutdown()
    api.server.server_close()


def _ledger_text(db_url: str) -> str:
    """Every row of every ledger table, as JSON text."""
    with psycopg.connect(db_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables "
                "WHERE table_schema = 'dailyfetch'"
            )
        ]
        assert "dailyfetch.partitions" in tables
        return "\n".join(
            str(row[0])
            for table in tables
            for row in conn.execute(f"SELECT row_to_json(t)::text FROM {table} t").fetchall()  # noqa: S608
        )


def test_basic_auth_and_server_tokens_never_reach_output_or_ledger(
    echo_api: _API, tmp_path: Path, db_url: str
) -> None:
    """Basic's base64, a server-issued ?token= and their encoded forms are in no output and no ledger table; the resume still sends the token."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(
        '[job]\nname = "echo"\n[source]\nkind = "rest"\n'
        f'url = "{echo_api.url}/items"\nrecords = "items"\npagination = {{ kind = "next_url", path = "next" }}\n'
        f'auth = {{ kind = "basic", username = "{USER}", password = "${{API_PASSWORD}}" }}\n'
        "retry_attempts = 1\n"
        '[destination]\ntable = "echo"\nprimary_key = ["id"]\nbatch_size = 1\n'
    )
    env = {"API_PASSWORD": PASSWORD, "NO_COLOR": "1"}
    args = ["-c", str(config), "--database-url", db_url]
    failed = run_cli("run", *args, "--date", DAY, "--debug", env=env)
    assert failed.returncode == 1, failed.stderr
    assert "HTTP 500" in failed.stderr and "denied" in failed.stderr  # the echo was shown, redacted
    runs = run_cli("runs", *args, "--json", env=env)
    report = run_cli("report", *args, "-o", str(tmp_path / "report.html"), env=env)
    assert report.returncode == 0, report.stderr
    ledger = _ledger_text(db_url)
    assert echo_api.received[-1]["query"]["token"] == [SERVER_TOKEN]  # page 2 was asked for, and failed
    outputs = {
        "run --debug": failed.stdout + failed.stderr,
        "runs --json": runs.stdout + runs.stderr,
        "report": report.stdout + report.stderr + (tmp_path / "report.html").read_text(),
        "ledger": ledger,
    }
    leaks = {(where, form) for where, text in outputs.items() for form in FORBIDDEN if form in text}
    assert leaks == set()
    assert "progress" in ledger and "dailyfetch-sealed" in ledger  # the next URL is kept, sealed

    echo_api.healthy = True
    resumed = run_cli("run", *args, "--date", DAY, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert echo_api.received[-1]["query"]["token"] == [SERVER_TOKEN]  # unsealed exactly
    with psycopg.connect(db_url) as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM public.echo ORDER BY id")] == [1, 2, 3]
    assert not any(form in resumed.stdout + resumed.stderr for form in FORBIDDEN)


def test_a_database_password_with_an_unencoded_slash_is_not_shown(tmp_path: Path) -> None:
    """A database URL whose password holds a raw '/' (so the URL does not parse as meant) shows no part of it.

    libpq, like urllib, ends the authority at the first '/': the password's first part
    becomes the port and the rest the database name, both shown in its errors.
    """
    password = "pa/ss-word-0x77aa"
    config = tmp_path / "dailyfetch.toml"
    config.write_text(
        '[job]\nname = "slash"\n[source]\nkind = "rest"\nurl = "http://127.0.0.1:9/items"\n'
        '[destination]\ntable = "slash"\n'
    )
    url = f"postgresql://postgres:{password}@127.0.0.1:5432/postgres"
    outputs = [
        run_cli("run", "-c", str(config), "--date", DAY, "--debug", env={"DATABASE_URL": url}),
        run_cli("check", "-c", str(config), env={"DATABASE_URL": url}),
    ]
    text = "\n".join(o.stdout + o.stderr for o in outputs)
    assert outputs[0].returncode != 0
    for part in (password, "ss-word-0x77aa", quote(password, safe="")):
        assert part not in text, text
