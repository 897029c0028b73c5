"""The benchmark's fake API: its own process, every page's JSON rendered once, ahead of time.

Started by the harness as ``python benchmarks/fakeserver.py SPEC`` where SPEC is JSON::

    {"datasets": {"2026-11-01": {"p0": 100000, "p1": 100000}},
     "page_size": 1000, "delay": 0.05, "rate": 40}

It prints its base URL on stdout once every page is rendered, then serves until
stdin closes (so it dies with the harness). The paths are those of
``tests/support/fakeapi.py``: ``/offset/{date}/{partition}?offset=&limit=`` answers
``{"items": [...]}`` and ``/page_number/{date}/{partition}?page=&per_page=`` answers
``{"data": {"items": [...]}, "page": n}``. Pages other than the pre-rendered ones are
rendered on first request and kept.

* ``delay``: seconds of latency added to every answer, 429s included.
* ``rate``: requests a second allowed, counted over a sliding one-second window of the
  requests it admitted; beyond that it answers 429 with ``Retry-After`` (whole seconds).
* ``GET /_stats`` gives ``{"requests", "status_429", "max_in_flight", "mean_in_flight", "first_at",
  "last_at"}`` (the mean weighted by time, from the first request's arrival to the last
  answer; the two times are ``time.monotonic()``, comparable with other processes');
  ``GET /_reset`` zeroes them and empties the rate window. Neither counts as a request.

The records have the shape of ``tests/support/fakeapi.make_records`` (8 fields) plus
``label`` (quotes, percent signs, braces, emoji) and ``total`` (a bigint): 10 fields.
"""

from __future__ import annotations

import json
import math
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

Record = dict[str, Any]


def bench_record(date: str, partition: str, i: int) -> Record:
    """Record ``i`` of a partition: make_records' 8 fields and two more."""
    return {
        "id": f"{partition}-{date}-{i:07d}",
        "seq": i,
        "amount": round(i * 1.25, 2),
        "active": i % 3 == 0,
        "name": f'name "{i}"\twith\ttabs\nnewline, ünïcödé 東京 \\ back',
        "tags": ["a", "b", str(i % 7)],
        "meta": {"partition": partition, "nested": {"n": i, "ok": True}},
        "note": None if i % 5 else "fifth",
        "label": f"O'Brien 100% {{curly}} ✓ 🚀 #{i}",
        "total": i * 1_000_003,
    }


def render_items(date: str, partition: str, start: int, stop: int) -> bytes:
    """The JSON array of records ``start`` to ``stop`` (exclusive)."""
    return orjson.dumps([bench_record(date, partition, i) for i in range(start, stop)])


class SlidingWindow:
    """At most ``limit`` admitted requests in any one-second window."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> float | None:
        """None when admitted, else the seconds until a slot frees."""
        now = time.monotonic()
        with self._lock:
            while self._admitted and self._admitted[0] <= now - 1.0:
                self._admitted.popleft()
            if len(self._admitted) < self.limit:
                self._admitted.append(now)
                return None
            return self._admitted[0] + 1.0 - now

    def reset(self) -> None:
        with self._lock:
            self._admitted.clear()


class Pages:
    """Rendered item arrays keyed by (date, partition, start, size)."""

    def __init__(self, datasets: dict[str, dict[str, int]], page_size: int) -> None:
        self.sizes = datasets
        self._cache: dict[tuple[str, str, int, int], bytes] = {}
        for date, partitions in datasets.items():
            for partition, count in partitions.items():
                for start in range(0, count + page_size, page_size):
                    self.items(date, partition, start, page_size)

    def items(self, date: str, partition: str, start: int, size: int) -> bytes:
        key = (date, partition, start, size)
        found = self._cache.get(key)
        if found is None:
            count = self.sizes.get(date, {}).get(partition, 0)
            found = render_items(date, partition, min(start, count), min(start + size, count))
            self._cache[key] = found
        return found


class Stats:
    """Requests and 429s; requests in flight (the most, and the time-weighted mean)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests = self.status_429 = self.in_flight = self.max_in_flight = 0
        self.busy = 0.0  # seconds of requests in flight, summed over requests
        self.first = self.last = 0.0

    def begin(self) -> float:
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.first = self.first or now
        return now

    def end(self, began: float, status: int) -> None:
        now = time.monotonic()
        with self.lock:
            self.in_flight -= 1
            self.status_429 += status == 429
            self.busy += now - began
            self.last = now

    def snapshot(self) -> dict[str, float]:
        span = self.last - self.first
        return {
            "requests": self.requests,
            "status_429": self.status_429,
            "max_in_flight": self.max_in_flight,
            "mean_in_flight": round(self.busy / span, 2) if span > 0 else 0.0,
            "first_at": self.first,
            "last_at": self.last,
        }


def make_handler(
    pages: Pages, page_size: int, delay: float, window: SlidingWindow | None, stats: Stats
) -> type:
    """The request handler class bound to this server's pages and settings."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path in ("/_stats", "/_reset"):
                self.control(parts.path)
                return
            began = stats.begin()
            wait = window.admit() if window is not None else None
            if delay:
                time.sleep(delay)
            if wait is not None:
                after = str(max(1, math.ceil(wait)))
                self.answer(429, b'{"error": "rate limited"}', f"Retry-After: {after}\r\n")
                stats.end(began, 429)
                return
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            status, body = self.page(parts.path, query)
            self.answer(status, body)
            stats.end(began, status)

        def page(self, path: str, query: dict[str, str]) -> tuple[int, bytes]:
            segments = [s for s in path.split("/") if s]
            if len(segments) != 3:
                return 404, b'{"error": "not found"}'
            kind, date, partition = segments
            if kind == "offset":
                offset, limit = int(query.get("offset", 0)), int(query.get("limit", page_size))
                return 200, b'{"items":' + pages.items(date, partition, offset, limit) + b"}"
            if kind == "page_number":
                page, size = int(query.get("page", 1)), int(query.get("per_page", page_size))
                items = pages.items(date, partition, (page - 1) * size, size)
                return 200, b'{"data":{"items":' + items + b'},"page":' + str(page).encode() + b"}"
            return 404, b'{"error": "unknown pagination kind"}'

        def control(self, path: str) -> None:
            with stats.lock:
                body = json.dumps(stats.snapshot()).encode()
                if path == "/_reset":
                    stats.reset()
                    if window is not None:
                        window.reset()
            self.answer(200, body)

        def answer(self, status: int, body: bytes, extra: str = "") -> None:
            head = (
                f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            )
            self.wfile.write(head.encode("latin-1"))
            self.wfile.write(body)

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main(spec_json: str) -> None:
    """Render every page, print the URL, serve until stdin closes."""
    spec = json.loads(spec_json)
    page_size = int(spec["page_size"])
    pages = Pages(
        {d: {p: int(n) for p, n in parts.items()} for d, parts in spec["datasets"].items()}, page_size
    )
    window = SlidingWindow(int(spec["rate"])) if spec.get("rate") else None
    handler = make_handler(pages, page_size, float(spec.get("delay") or 0), window, Stats())
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()  # the harness closes our stdin (or dies): stop
    server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
