"""Every auth kind sends what the API expects; secrets come from the environment and never reach output."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from dailyfetch.runner import run_job
from support.configs import load, make_config
from support.fakeapi import FakeAPI

DAY = date(2026, 11, 11)
SECRET = "s3cr3t-value-4242"


@pytest.mark.parametrize(
    "auth, check",
    [
        (
            '{ kind = "bearer", token = "${SECRET}" }',
            lambda r: r["headers"].get("Authorization") == f"Bearer {SECRET}",
        ),
        (
            '{ kind = "header", name = "X-Api-Key", value = "${SECRET}" }',
            lambda r: r["headers"].get("X-Api-Key") == SECRET,
        ),
        (
            '{ kind = "query", param = "api_key", value = "${SECRET}" }',
            lambda r: r["query"].get("api_key") == SECRET,
        ),
        (
            '{ kind = "basic", username = "me", password = "${SECRET}" }',
            lambda r: (
                r["headers"].get("Authorization")
                == "Basic " + base64.b64encode(f"me:{SECRET}".encode()).decode()
            ),
        ),
    ],
    ids=["bearer", "header", "query", "basic"],
)
def test_auth_kinds_reach_the_api(auth: str, check: Any, api: FakeAPI, db_url: str, capsys: Any) -> None:
    """Each auth kind puts the secret where the API looks for it, and the secret is absent from the logs."""
    config = load(
        make_config(api.url, partitions=["eu"], extra_source=f"auth = {auth}"), env={"SECRET": SECRET}
    )
    result = run_job(config, logical_date=DAY, database_url=db_url)
    assert result.outcome == "succeeded", result.error
    assert api.requests and all(check(r) for r in api.requests)
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err


class _TokenServer:
    """An OAuth2 token endpoint issuing short-lived tokens for one client."""

    def __init__(self, lifetime: int) -> None:
        self.issued: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                expected = "Basic " + base64.b64encode(f"client-1:{SECRET}".encode()).decode()
                if (
                    form.get("grant_type") != ["client_credentials"]
                    or self.headers.get("Authorization") != expected
                ):
                    self.send_response(401)
                    self.end_headers()
                    return
                token = f"tok-{len(server.issued) + 1}-{SECRET[:4]}xyz"
                server.issued.append(token)
                body = json.dumps(
                    {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/oauth/token"


@pytest.fixture
def token_server() -> Iterator[_TokenServer]:
    """A token endpoint whose tokens expire 31 seconds after issue (1 s after dailyfetch's refresh margin)."""
    server = _TokenServer(lifetime=31)
    yield server
    server.httpd.shutdown()


def test_oauth2_client_credentials_fetches_and_refreshes_tokens(
    token_server: _TokenServer, db_url: str
) -> None:
    """OAuth2 client credentials: a token is fetched, sent as Bearer, refreshed on 401 and when it expires."""
    valid: set[str] = set()

    def gate(req: dict[str, Any]) -> Any:
        header = req["headers"].get("Authorization", "")
        token = header.removeprefix("Bearer ")
        if token not in token_server.issued or token in valid - {token_server.issued[-1]}:
            return (401, {}, b'{"error": "invalid token"}')
        valid.add(token)
        return None

    api = FakeAPI(page_size=5, fail=gate).start()
    try:
        auth = (f'auth = {{ kind = "oauth2_client_credentials", token_url = "{token_server.url}", '
                'client_id = "client-1", client_secret = "${SECRET}", scope = "read" }')  # fmt: skip
        config = load(make_config(api.url, partitions=["eu"], extra_source=auth), env={"SECRET": SECRET})
        result = run_job(config, logical_date=DAY, database_url=db_url)
        assert result.outcome == "succeeded", result.error
        first = len(token_server.issued)
        assert first >= 1
        # A token the API revokes: the next run's first request gets 401, refreshes, and succeeds.
        valid.clear()
        token_server.issued.append("revoked")
        again = run_job(config, logical_date=date(2026, 11, 12), database_url=db_url)
        assert again.outcome == "succeeded", again.error
        assert len(token_server.issued) > first
    finally:
        api.stop()


def test_oauth2_token_is_reused_until_it_expires(token_server: _TokenServer) -> None:
    """A cached token is reused while valid and fetched anew once it has expired."""
    from dailyfetch.fetch.auth import OAuth2ClientCredentials

    auth = OAuth2ClientCredentials(token_server.url, "client-1", SECRET)
    first = auth.token()
    assert auth.token() == first and auth.fetched == 1
    auth._expires = 0.0  # the clock passes the token's expiry
    assert auth.token() != first and auth.fetched == 2
