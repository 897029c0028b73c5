"""A plain JSON-over-HTTP/1.1 API with page-number pagination, as real APIs serve one.

Written from the client's contract, not from dailyfetch's: ``GET /streams/<id>?page=N``
(1-based, the GitHub / GitLab / WordPress convention) answers ``200`` with a bare JSON
array, ``application/json; charset=utf-8`` and a ``Content-Length``; a page past the last
one answers an empty array, which is how such APIs say "the end". Bodies are the exact
bytes a test registered (so a test decides the JSON text: escapes, raw UTF-8, huge
integers). One server serves many streams: a test registers each one under a fresh id.
Every request is recorded, so a test can check which pages a run asked for.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # persistent connections, Content-Length framing
    server: _Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        query = parse_qs(parts.query)
        pages = (
            self.server.streams.get(segments[1]) if len(segments) == 2 and segments[0] == "streams" else None
        )
        if pages is None:
            self._send(404, b'{"message": "Not Found"}')
            return
        try:
            page = int(query.get("page", ["1"])[0])
        except ValueError:
            self._send(400, b'{"message": "page must be an integer"}')
            return
        with self.server.lock:
            self.server.requests.setdefault(segments[1], []).append(page)
        body = pages[page - 1] if 1 <= page <= len(pages) else b"[]"
        self._send(200, body)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    streams: dict[str, list[bytes]]
    requests: dict[str, list[int]]
    lock: threading.Lock


class JsonPagesAPI:
    """The server: :meth:`add` a stream of page bodies, point a job at the URL it returns."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.streams = {}
        self._server.requests = {}
        self._server.lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> JsonPagesAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, pages: Sequence[bytes]) -> tuple[str, str]:
        """Serve ``pages`` (JSON array bodies; page 1 first) under a new id; return ``(id, url)``."""
        stream = uuid.uuid4().hex[:12]
        self._server.streams[stream] = list(pages)
        return stream, f"{self.url}/streams/{stream}"

    def remove(self, stream: str) -> None:
        self._server.streams.pop(stream, None)
        self._server.requests.pop(stream, None)

    def pages_requested(self, stream: str) -> list[int]:
        """The ``page`` numbers requested for ``stream``, in arrival order."""
        with self._server.lock:
            return list(self._server.requests.get(stream, []))
