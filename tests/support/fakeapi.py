"""A local HTTP API that serves deterministic records with every pagination kind.

``/{kind}/{date}/{partition}`` serves the records of ``records_for(date, partition)``
paginated as ``kind`` (page_number, offset, cursor, next_url, link_header, none).
It records every request it receives, so tests can assert on what the server saw.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from support.local_server import LocalHTTPServer

Record = dict[str, Any]


def make_records(date: str, partition: str, count: int) -> list[Record]:
    """``count`` records with awkward strings, numbers, booleans, objects and arrays."""
    out = []
    for i in range(count):
        out.append(
            {
                "id": f"{partition}-{date}-{i:06d}",
                "seq": i,
                "amount": round(i * 1.25, 2),
                "active": i % 3 == 0,
                "name": f'name "{i}"\twith\ttabs\nnewline, ünïcödé 東京 \\ back',
                "tags": ["a", "b", str(i % 7)],
                "meta": {"partition": partition, "nested": {"n": i, "ok": True}},
                "note": None if i % 5 else "fifth",
            }
        )
    return out


@dataclass
class FakeAPI(LocalHTTPServer):
    """A threaded HTTP server serving paginated records; see the module docstring."""

    records_for: Callable[[str, str], list[Record]] = lambda d, p: make_records(d, p, 25)
    page_size: int = 10
    delay: float = 0.0
    records_key: str = "items"
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Fault injection: return (status, headers, body) to answer instead, "reset" to
    # drop the connection with a TCP RST, a float to stall that many seconds first.
    fail: Callable[[dict[str, Any]], tuple[int, dict[str, str], bytes] | str | float | None] | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        seen = {"path": parts.path, "query": query, "headers": dict(handler.headers.items())}
        with self._lock:
            self.requests.append(seen)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer(handler, parts, query, seen)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(
        self, handler: BaseHTTPRequestHandler, parts: Any, query: dict[str, str], seen: dict[str, Any]
    ) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            injected = self.fail(seen)
            if injected == "reset":
                handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                handler.connection.close()
                handler.close_connection = True
                return
            if isinstance(injected, float):
                time.sleep(injected)
            elif isinstance(injected, tuple):
                status, headers, body = injected
                self._send(handler, status, body, headers)
                return
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) != 3:
            self._send(handler, 404, b'{"error": "not found"}')
            return
        kind, date, partition = segments
        records = self.records_for(date, partition)
        status, body, headers = self._paginate(kind, records, query, parts.path)
        self._send(handler, status, json.dumps(body).encode(), headers)

    def _paginate(
        self, kind: str, records: list[Record], q: dict[str, str], path: str
    ) -> tuple[int, Any, dict[str, str]]:
        size = int(q.get("per_page", self.page_size))
        key = self.records_key
        if kind == "page_number":
            page = int(q.get("page", 1))
            chunk = records[(page - 1) * size : page * size]
            return 200, {"data": {key: chunk}, "page": page}, {}
        if kind == "offset":
            offset, limit = int(q.get("offset", 0)), int(q.get("limit", size))
            return 200, {key: records[offset : offset + limit]}, {}
        if kind in ("cursor", "next_url", "link_header"):
            start = int(q.get("cursor", q.get("after", 0)) or 0)
            chunk = records[start : start + size]
            more = start + size < len(records)
            base = {k: v for k, v in q.items() if k not in ("cursor", "after")}
            if kind == "cursor":
                return 200, {key: chunk, "next_cursor": str(start + size) if more else None}, {}
            nxt = f"{path}?{urlencode({**base, 'after': start + size})}" if more else None
            if kind == "next_url":
                return 200, {key: chunk, "links": {"next": nxt}}, {}
            headers = {"Link": f'<{self.url}{nxt}>; rel="next"'} if nxt else {}
            return 200, chunk, headers
        if kind == "stripe":
            after = q.get("starting_after")
            ids = [r["id"] for r in records]
            start = ids.index(after) + 1 if after in ids else 0
            chunk = records[start : start + size]
            return 200, {"object": "list", "data": chunk, "has_more": start + size < len(records)}, {}
        if kind == "none":
            return 200, {key: records}, {}
        return 404, {"error": f"unknown kind {kind}"}, {}

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        headers = dict(headers or {})
        handler.send_response(status)
        handler.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
