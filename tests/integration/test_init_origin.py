"""`dailyfetch init` keeps its sample request on the URL's origin, as a run does (issue 15 #13).

Two loopback servers on different ports are two origins (RFC 6454). The one init is
pointed at answers 302 (RFC 9110 15.4.3) with a ``Location`` on the other; what is
asserted is what the other one *received*.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from support.cli import run_cli

API_KEY = "sekrit-init-123-aa77"
TOKEN = "tok-init-456-bb88"


class _Server:
    """Records each request's path and headers; answers its first ``redirects`` requests 302 to ``redirect_to``, then one page."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.redirect_to: str | None = None
        self.redirects = 1
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.received.append({"path": self.path, "headers": dict(self.headers)})
                if owner.redirect_to is not None and len(owner.received) <= owner.redirects:
                    status, headers, body = 302, {"Location": owner.redirect_to + "/items"}, b""
                else:
                    status, headers, body = (
                        200,
                        {"Content-Type": "application/json"},
                        json.dumps({"items": [{"id": 1}, {"id": 2}]}).encode(),
                    )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def two_origins() -> Iterator[tuple[_Server, _Server]]:
    """The job's server (redirecting) and a foreign one on another port."""
    ours, foreign = _Server(), _Server()
    ours.redirect_to = foreign.url
    yield ours, foreign
    ours.stop()
    foreign.stop()


def test_init_refuses_a_redirect_to_another_origin_and_sends_it_nothing(
    two_origins: tuple[_Server, _Server], tmp_path: Path
) -> None:
    """A 302 to another origin is refused in one line naming the URL and [source] allowed_hosts; the other origin receives no request at all, so no X-Api-Key or Authorization."""
    ours, foreign = two_origins
    config = tmp_path / "cfg.toml"
    made = run_cli(
        "init", f"{ours.url}/items", "-H", f"X-Api-Key: {API_KEY}", "-H", f"Authorization: Bearer {TOKEN}",
        "-o", str(config),
    )  # fmt: skip
    assert ours.received and ours.received[0]["headers"].get("X-Api-Key") == API_KEY
    assert foreign.received == []
    assert made.returncode == 1 and not config.exists()
    lines = made.stderr.strip().splitlines()
    assert len(lines) == 1, made.stderr
    assert f"{foreign.url}/items" in lines[0] and "[source] allowed_hosts" in lines[0]
    assert API_KEY not in made.stderr + made.stdout and TOKEN not in made.stderr + made.stdout


def test_init_follows_a_redirect_on_its_own_origin_with_its_headers(tmp_path: Path) -> None:
    """A 302 to another path of the same origin is still followed, with the headers init was given."""
    server = _Server()
    try:
        server.redirect_to = server.url + "/v2"
        config = tmp_path / "cfg.toml"
        made = run_cli("init", f"{server.url}/items", "-H", f"X-Api-Key: {API_KEY}", "-o", str(config))
        assert made.returncode == 0, made.stderr
        assert [r["path"] for r in server.received] == ["/items", "/v2/items"]
        assert all(r["headers"].get("X-Api-Key") == API_KEY for r in server.received)
    finally:
        server.stop()
