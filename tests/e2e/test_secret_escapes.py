"""Secrets echoed by servers that escape JSON as Go, PHP or Jackson do, or pad them past the preview's cut, stay out of every output (issue 15 #14).

The server checks the job's credential and, like many real APIs, echoes it in its
400 body: escaped by Go's ``encoding/json`` (``&<>`` as ``\\u0026 \\u003c \\u003e``,
U+2028 as ``\\u2028``), with every non-ASCII character escaped in upper-case hex
(Jackson's ``ESCAPE_NON_ASCII``, surrogate pairs above U+FFFF), or after 950 bytes of
whitespace (a pretty-printed HTML error page), so the token lands on the preview's
960-byte read limit.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from support.cli import run_cli

DAY = "2026-11-05"
GO_KEY = "k3y&v<a>lue-RVSECRET\u2028x"
ASCII_KEY = "cl\u00e9-\U0001f511-RVSECRET2"
TOKEN = "rvtok0123456789abcdef"


def _go(text: str) -> str:
    """Go's encoding/json string escaping (HTML-safe, the default)."""
    out = json.dumps(text, ensure_ascii=False)
    for char, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028")):
        out = out.replace(char, code)
    return out


def _upper_hex(text: str) -> str:
    """JSON text with its \\uXXXX escapes in upper-case hex, as Jackson writes them."""
    return re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m.group(0)[2:].upper(), text)


def _fragments(secret: str) -> list[str]:
    """Every piece of ``secret`` of 6 characters or more (shorter ones occur in ordinary text)."""
    return [secret[i:j] for i in range(len(secret)) for j in range(i + 6, len(secret) + 1)]


class _EchoAPI:
    """Answers 400, echoing the credential it was sent in the form its path names."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                # http.server reads header bytes as ISO-8859-1; Go (and this echo) reads them as UTF-8.
                key = self.headers.get("X-Api-Key", "").encode("latin-1").decode("utf-8")
                token = self.headers.get("Authorization", "").split(" ", 1)[-1]
                if self.path.startswith("/go"):
                    body, ctype = '{"error":' + _go(f"invalid api key {key}") + "}", "application/json"
                elif self.path.startswith("/ascii"):
                    escaped = _upper_hex(json.dumps(f"invalid api key {key}"))
                    body, ctype = '{"error":' + escaped + "}", "application/json"
                else:
                    body, ctype = " " * 950 + token + " was rejected", "text/html"
                raw = body.encode()
                self.send_response(400)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def echo() -> Iterator[_EchoAPI]:
    """The echoing API."""
    api = _EchoAPI()
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
        return "\n".join(
            str(row[0])
            for table in tables
            for row in conn.execute(f"SELECT row_to_json(t)::text FROM {table} t").fetchall()  # noqa: S608
        )


@pytest.mark.parametrize(
    ("path", "auth", "secret", "env"),
    [
        ("go", '{ kind = "header", name = "X-Api-Key", value = "${RV_KEY}" }', GO_KEY, "RV_KEY"),
        ("ascii", '{ kind = "header", name = "X-Api-Key", value = "${RV_KEY}" }', ASCII_KEY, "RV_KEY"),
        ("ws", '{ kind = "bearer", token = "${RV_TOKEN}" }', TOKEN, "RV_TOKEN"),
    ],
)
def test_an_echoed_secret_in_any_escape_or_cut_is_in_no_output(
    echo: _EchoAPI, tmp_path: Path, db_url: str, path: str, auth: str, secret: str, env: str
) -> None:
    """The 400's echo is shown, but no piece of the secret (6+ chars, any JSON escape) is in stderr, --debug, runs --json or the ledger."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(
        f'[job]\nname = "rv_{path}"\n[source]\nkind = "rest"\nurl = "{echo.url}/{path}"\n'
        f'records = "items"\nauth = {auth}\n[destination]\ntable = "rv_{path}_t"\nprimary_key = ["id"]\n'
    )
    environ = {env: secret, "NO_COLOR": "1"}
    args = ["-c", str(config), "--database-url", db_url]
    plain = run_cli("run", *args, "--date", DAY, env=environ)
    debug = run_cli("run", *args, "--date", DAY, "--force", "--debug", env=environ)
    assert plain.returncode == 1 and "HTTP 400" in plain.stderr, plain.stderr
    runs = run_cli("runs", *args, "--json", env=environ)
    outputs = {
        "run": plain.stdout + plain.stderr,
        "run --debug": debug.stdout + debug.stderr,
        "runs --json": runs.stdout + runs.stderr,
        "ledger": _ledger_text(db_url),
    }
    escaped = {json.dumps(secret)[1:-1], _go(secret)[1:-1], _upper_hex(json.dumps(secret))[1:-1]}
    pieces = {p for form in {secret, *escaped} for p in _fragments(form)}
    leaks = {(where, p) for where, text in outputs.items() for p in pieces if p in text}
    assert leaks == set()
