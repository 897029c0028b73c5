"""Credentials stay on the job's origin: next-page URLs and redirects to another origin are refused or stripped.

Two loopback servers on different ports are two origins (RFC 6454: scheme, host,
port). The job's server hands out next-page URLs (in the body, RFC 8288 ``Link``
headers, or RFC 9110 302 redirects) that point at the other one; what is asserted is
what the other server *received*.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dailyfetch.runner import run_job
from support.cli import run_cli
from support.configs import fetch_table, load

DAY = date(2026, 11, 5)
TOKEN = "tok-origin-8c1d2e3f4a"
API_KEY = "key-origin-5b6c7d8e"
CUSTOM = "custom-origin-1a2b3c4d"
USER, PASSWORD = "origin-user", "pw-origin-9f8e7d6c"
SECRETS = {"API_TOKEN": TOKEN, "API_KEY": API_KEY, "CUSTOM_SECRET": CUSTOM, "API_PASSWORD": PASSWORD}

# Each auth kind, and the forms of its credential that must never reach the other origin.
AUTHS = {
    "bearer": ('{ kind = "bearer", token = "${API_TOKEN}" }', [TOKEN]),
    "header": ('{ kind = "header", name = "X-Api-Key", value = "${API_KEY}" }', [API_KEY]),
    "query": ('{ kind = "query", param = "api_key", value = "${API_KEY}" }', [API_KEY]),
    "basic": (
        '{ kind = "basic", username = "origin-user", password = "${API_PASSWORD}" }',
        [PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()],
    ),
}
Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Site:
    """An HTTP server that records what it received and answers from ``routes`` (path → reply)."""

    routes: dict[str, Callable[[], Reply]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Site:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                site.received.append(
                    {"path": parts.path, "query": parse_qs(parts.query), "headers": dict(self.headers)}
                )
                status, headers, body = site.routes.get(parts.path, lambda: (404, {}, b"{}"))()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def leaked(self, secrets: list[str]) -> list[str]:
        """Every received header or query value that holds one of ``secrets``."""
        found = []
        for request in self.received:
            values = [*request["headers"].values(), *(v for vs in request["query"].values() for v in vs)]
            found += [v for v in values if any(s in v for s in secrets)]
        return found


def _page(ids: list[int], **extra: Any) -> bytes:
    return json.dumps({"items": [{"id": i} for i in ids], **extra}).encode()


@pytest.fixture
def sites() -> Iterator[tuple[Site, Site]]:
    """The job's server and a foreign one, on two ports of 127.0.0.1."""
    home, foreign = Site().start(), Site().start()
    yield home, foreign
    home.stop()
    foreign.stop()


def _link_to(home: Site, foreign: Site, how: str) -> str:
    """Make page 1 of ``home`` lead to ``foreign``'s /page2 by ``how``; return the pagination config."""
    target = f"{foreign.url}/page2?cursor=abc"
    foreign.routes["/page2"] = lambda: (200, {}, _page([3, 4]))
    if how == "body next_url":
        home.routes["/items"] = lambda: (200, {}, _page([1, 2], next=target))
        return '{ kind = "next_url", path = "next" }'
    if how == "Link header":
        home.routes["/items"] = lambda: (200, {"Link": f'<{target}>; rel="next"'}, _page([1, 2]))
        return '{ kind = "link_header" }'
    # a same-origin next page that redirects (302, RFC 9110 15.4.3) to the other origin
    home.routes["/items"] = lambda: (200, {}, _page([1, 2], next=f"{home.url}/moved"))
    home.routes["/moved"] = lambda: (302, {"Location": target}, b"")
    return '{ kind = "next_url", path = "next" }'


def _config(home: Site, pagination: str, auth: str, extra: str = "") -> str:
    return (
        '[job]\nname = "origin"\n[source]\nkind = "rest"\n'
        f'url = "{home.url}/items"\nrecords = "items"\npagination = {pagination}\n'
        f'auth = {auth}\nheaders = {{ X-Custom-Secret = "${{CUSTOM_SECRET}}", Accept-Language = "en" }}\n'
        f"{extra}\n"
        '[destination]\ntable = "origin"\nprimary_key = ["id"]\n'
    )


HOW = ["body next_url", "Link header", "redirect"]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("kind", list(AUTHS))
def test_a_next_page_on_another_origin_is_refused_and_receives_nothing(
    how: str, kind: str, sites: tuple[Site, Site], db_url: str
) -> None:
    """A next page (body, Link, redirect) on another origin fails the run naming the URL and allowed_hosts; that origin receives no request."""
    home, foreign = sites
    auth, secrets = AUTHS[kind]
    config = load(_config(home, _link_to(home, foreign, how), auth), env=SECRETS)
    result = run_job(config, logical_date=DAY, database_url=db_url)
    assert (result.outcome, result.exit_code) == ("failed", 1)
    assert result.error is not None
    assert f"{foreign.url}/page2?cursor=abc" in result.error and "[source] allowed_hosts" in result.error
    assert foreign.received == []
    assert home.leaked(secrets), "the job's own origin gets its credentials"


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("kind", list(AUTHS))
def test_an_allowed_host_is_followed_without_any_credential(
    how: str, kind: str, sites: tuple[Site, Site], db_url: str
) -> None:
    """With the other origin in allowed_hosts its records land, and it received no Authorization, X-Api-Key, secret header or api_key."""
    home, foreign = sites
    auth, secrets = AUTHS[kind]
    port = urlsplit(foreign.url).port
    extra = f'allowed_hosts = ["127.0.0.1:{port}"]'
    config = load(_config(home, _link_to(home, foreign, how), auth, extra), env=SECRETS)
    result = run_job(config, logical_date=DAY, database_url=db_url)
    assert result.outcome == "succeeded", result.error
    assert [r["id"] for r in fetch_table(db_url, "origin")] == [1, 2, 3, 4]
    assert len(foreign.received) == 1
    got = foreign.received[0]
    assert foreign.leaked([*secrets, CUSTOM]) == []
    assert "Authorization" not in got["headers"] and "X-Api-Key" not in got["headers"]
    assert "X-Custom-Secret" not in got["headers"] and "api_key" not in got["query"]
    assert got["query"] == {"cursor": ["abc"]}  # the next URL itself is kept as given


def test_the_cli_names_the_refused_url_and_the_key(
    sites: tuple[Site, Site], db_url: str, tmp_path: Path
) -> None:
    """`dailyfetch run` exits 1 with one line naming the other origin's URL (masked) and [source] allowed_hosts."""
    home, foreign = sites
    foreign.routes["/page2"] = lambda: (200, {}, _page([3]))
    target = f"{foreign.url}/page2?token=server-issued-77aa&page=2"
    home.routes["/items"] = lambda: (200, {}, _page([1], next=target))
    path = tmp_path / "dailyfetch.toml"
    path.write_text(_config(home, '{ kind = "next_url", path = "next" }', AUTHS["bearer"][0]))
    done = run_cli("run", "-c", str(path), "--date", DAY.isoformat(), "--database-url", db_url, env=SECRETS)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: refused to send a request to ") and "[source] allowed_hosts" in last, last
    assert f"{foreign.url}/page2?token=***&page=2" in last and "server-issued-77aa" not in done.stderr
    assert foreign.received == []
