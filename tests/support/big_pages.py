"""An API of big pages (about 5.5 MB of JSON each), page-numbered, that counts what it was asked.

Each page holds ``per_page`` (``PER_PAGE``: 5.5 MB) distinct records of about 130 bytes; past ``pages`` it answers an
empty list. ``requested`` is how many page requests arrived, so a test can compare it with how
many pages its consumer has taken (what is held ahead, counted from the other side of the wire).
"""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

PER_PAGE = 47_000


def page_body(page: int, pages: int, per_page: int = PER_PAGE) -> bytes:
    """Page ``page`` (1-based) of ``pages``: ``{"items": [...]}``, ids ``page * 10**6 + i``; records
    of ten short fields (as most APIs send), which decode to about six times their JSON."""
    if page > pages:
        return b'{"items": []}'
    base = page * 1_000_000
    items = ",".join(
        f'{{"id": {base + i}, "n": {i}, "x": {i * 0.5}, "ok": {"true" if i % 2 else "false"}, '
        f'"s": "item {i}", "tags": ["a", "b"], "m": {{"p": {page}, "q": null}}}}'
        for i in range(per_page)
    )
    return f'{{"items": [{items}]}}'.encode()


class BigPagesAPI:
    """Serves ``/items?page=N`` on 127.0.0.1 until :meth:`stop`."""

    def __init__(self, pages: int, per_page: int = PER_PAGE) -> None:
        self.pages = pages
        self.per_page = per_page
        self.requested = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = dict(parse_qsl(urlsplit(self.path).query))
                with owner._lock:
                    owner.requested += 1
                body = page_body(int(query.get("page", "1")), owner.pages, owner.per_page)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)  # unless the client was killed (an OOM test) or gave up

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
