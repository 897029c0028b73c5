"""A SQLite-backed table API shaped like Datasette's JSON API, for incremental tests.

Written from Datasette's documented behaviour (docs.datasette.io, "JSON API" and
"Table arguments"), not from dailyfetch's assumptions:

- ``GET /db/items.json?_shape=objects`` answers ``{"rows": [{...}, ...], "next": ..., "next_url": ...}``;
- ``?<column>__gt=<value>`` filters with SQL ``"<column>" > :p0``, which SQLite evaluates
  on TEXT columns by comparing the strings byte by byte (so ``"…12:00:00.500Z" > "…12:00:00Z"``
  is false: ``.`` sorts before ``Z``);
- ``_size`` rows a page in primary key order; ``next_url`` carries ``_next=<last id>`` and is
  null on the last page.

It also answers like json-server 1.0 (its README, "Conditions" and "Pagination"), a JavaScript
server whose ``_gt`` compares strings as strings:

- ``GET /items?updated_at_gt=<value>&_page=N&_per_page=M`` answers
  ``{"first": 1, "prev": ..., "next": ..., "last": ..., "pages": ..., "items": <count>, "data": [...]}``;
  a page past the last has ``"data": []``.

Every request's decoded query is kept in ``requests``, so a test can assert on the exact
text the server received.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from support.local_server import LocalHTTPServer


@dataclass
class SQLiteTableAPI(LocalHTTPServer):
    """Serve table ``items`` (``id`` integer primary key, ``v`` text, ``updated_at`` text) of an in-memory SQLite."""

    requests: list[dict[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _db: sqlite3.Connection = field(init=False)

    def __post_init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT, updated_at TEXT)")

    def put(self, rows: list[tuple[int, str, str | None]]) -> None:
        """Insert or replace rows ``(id, v, updated_at)``."""
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?)", rows)
            self._db.commit()

    def received(self, param: str) -> list[str]:
        """The distinct values of query parameter ``param`` the server received, in order."""
        seen: list[str] = []
        for query in self.requests:
            if param in query and query[param] not in seen:
                seen.append(query[param])
        return seen

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.requests.append(query)
        if parts.path == "/items":
            self._json_server(handler, query)
            return
        if parts.path != "/db/items.json":
            self._send(handler, 404, {"ok": False, "error": "Table not found"})
            return
        where, args = ["1 = 1"], []
        for name, value in query.items():
            column, _, op = name.partition("__")
            if op == "gt" and column in ("id", "v", "updated_at"):
                where.append(f'"{column}" > ?')
                args.append(value)
        if "_next" in query:
            where.append("id > ?")
            args.append(query["_next"])
        size = int(query.get("_size", "100"))
        # Column names come from a fixed list; values are bound parameters.
        sql = f"SELECT id, v, updated_at FROM items WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"  # noqa: S608
        with self._lock:
            found = self._db.execute(sql, [*args, size + 1]).fetchall()
        rows = [{"id": i, "v": v, "updated_at": u} for i, v, u in found[:size]]
        next_url = None
        if len(found) > size:
            host, port = handler.server.server_address[:2]
            following = {k: v for k, v in query.items() if k != "_next"} | {"_next": str(rows[-1]["id"])}
            next_url = f"http://{host!s}:{port}{parts.path}?{urlencode(following)}"
        self._send(handler, 200, {"rows": rows, "next": None if next_url is None else rows[-1]["id"],
                                  "next_url": next_url})  # fmt: skip

    def _json_server(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        where, args = "1 = 1", []
        if "updated_at_gt" in query:
            where, args = "updated_at > ?", [query["updated_at_gt"]]
        page, per_page = int(query.get("_page", "1")), int(query.get("_per_page", "10"))
        sql = f"SELECT id, v, updated_at FROM items WHERE {where} ORDER BY id"  # noqa: S608 (fixed text)
        with self._lock:
            found = self._db.execute(sql, args).fetchall()
        pages = max(1, -(-len(found) // per_page))
        chunk = found[(page - 1) * per_page : page * per_page]
        self._send(handler, 200, {
            "first": 1, "prev": page - 1 if page > 1 else None, "next": page + 1 if page < pages else None,
            "last": pages, "pages": pages, "items": len(found),
            "data": [{"id": i, "v": v, "updated_at": u} for i, v, u in chunk],
        })  # fmt: skip

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
