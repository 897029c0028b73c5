"""Local HTTP servers shaped like real APIs, for ``dailyfetch init`` end to end.

* :class:`GitHubIssues`: ``/repos/acme/widgets/issues?per_page=&page=``, a bare JSON array
  with GitHub's ``Link`` header (``rel="next"``, ``"last"``, ``"prev"``, ``"first"``).
* :class:`StripeCharges`: ``/v1/charges?limit=&starting_after=``, the
  ``{"object": "list", "data": [...], "has_more": ..., "url": ...}`` envelope; an unknown
  ``starting_after`` is a 400 as on Stripe.
* :class:`ProductsEnvelope`: ``/api/v2/products?page=&per_page=``, a plain page-number
  envelope ``{"data": {"items": [...]}, "page": 1, "total_pages": N}``; past the last page
  ``items`` is empty.

The USGS FDSN shape is :class:`support.usgs.USGSReplay`. With ``token`` set, a server
answers 401 unless the request carries ``Authorization: Bearer <token>``. Every request
is recorded in ``requests``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from support.local_server import LocalHTTPServer

Record = dict[str, Any]
Answer = tuple[int, Any, dict[str, str]]


@dataclass
class ShapedAPI(LocalHTTPServer):
    """A threaded local server; subclasses answer one path in :meth:`respond`."""

    token: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, path: str, query: dict[str, str]) -> Answer:
        """``(status, JSON body, headers)`` for a GET of ``path``."""
        raise NotImplementedError

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append({"path": parts.path, "query": query, "headers": dict(handler.headers)})
        if self.token is not None and handler.headers.get("Authorization") != f"Bearer {self.token}":
            status, body, headers = 401, {"message": "Bad credentials"}, {}
        else:
            status, body, headers = self.respond(parts.path, query)
        data = json.dumps(body, ensure_ascii=False).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _not_found(path: str) -> Answer:
    return 404, {"message": "Not Found", "path": path}, {}


def _stamp(day: int, minute: int, zone: str = "Z") -> str:
    return f"2026-11-{day:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00{zone}"


def make_issues(count: int) -> list[Record]:
    """GitHub issues, newest first: integer ids, nested user and labels, nullable closed_at."""
    return [
        {
            "id": 2_400_000_000 + n * 7,
            "node_id": f"I_kwDOAbc{n:05d}",
            "number": n,
            "title": f"Widget #{n} breaks on ünïcode 東京",
            "user": {"login": "octocat", "id": 583231},
            "labels": [{"name": "bug"}] if n % 2 else [],
            "state": "closed" if n % 3 == 0 else "open",
            "comments": n % 4,
            "created_at": _stamp(20, n * 17),
            "updated_at": _stamp(27, n * 23),
            "closed_at": _stamp(27, n * 29) if n % 3 == 0 else None,
            "body": None if n % 5 == 0 else f"Steps to reproduce {n}",
        }
        for n in range(count, 0, -1)
    ]


@dataclass
class GitHubIssues(ShapedAPI):
    """``/repos/acme/widgets/issues``: a bare array paged by ``page``/``per_page`` and a Link header."""

    issues: list[Record] = field(default_factory=lambda: make_issues(23))
    path: str = "/repos/acme/widgets/issues"
    next_rel: str = "next"  # RFC 8288 relation types are case-insensitive: "Next" means the same

    def respond(self, path: str, query: dict[str, str]) -> Answer:
        if path != self.path:
            return _not_found(path)
        per_page = min(100, int(query.get("per_page", 30)))
        page = int(query.get("page", 1))
        chunk = self.issues[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(self.issues) // per_page))

        def link(n: int) -> str:
            return f"{self.url}{self.path}?{urlencode({**query, 'page': n})}"

        rels = [(page + 1, self.next_rel), (last, "last")] if page < last else []
        rels += [(1, "first"), (page - 1, "prev")] if page > 1 else []
        headers = {"Link": ", ".join(f'<{link(n)}>; rel="{rel}"' for n, rel in rels)} if rels else {}
        return 200, chunk, headers


def make_charges(count: int) -> list[Record]:
    """Stripe charges, newest first: ``ch_`` ids, cents, epoch-second ``created``, metadata."""
    return [
        {
            "id": f"ch_3Pq{n:04d}Xy",
            "object": "charge",
            "amount": 1000 + n * 37,
            "currency": "usd",
            "created": 1_764_201_600 + n * 600,
            "livemode": False,
            "paid": True,
            "status": "succeeded",
            "metadata": {"order_id": f"ord_{n}"},
            "description": None if n % 4 else f"Order {n}",
        }
        for n in range(count, 0, -1)
    ]


@dataclass
class StripeCharges(ShapedAPI):
    """``/v1/charges``: Stripe's list envelope, paged by ``starting_after`` the last id."""

    charges: list[Record] = field(default_factory=lambda: make_charges(25))

    def respond(self, path: str, query: dict[str, str]) -> Answer:
        if path != "/v1/charges":
            return _not_found(path)
        limit = min(100, int(query.get("limit", 10)))
        ids = [c["id"] for c in self.charges]
        after = query.get("starting_after")
        if after is not None and after not in ids:
            error = {"message": f"No such charge: '{after}'", "type": "invalid_request_error"}
            return 400, {"error": error}, {}
        start = ids.index(after) + 1 if after is not None else 0
        chunk = self.charges[start : start + limit]
        body = {"object": "list", "data": chunk, "has_more": start + limit < len(ids), "url": path}
        return 200, body, {}


def make_products(count: int) -> list[Record]:
    """Products: ``product_id``, a shared ``category_id``, prices both whole and decimal, dates."""
    return [
        {
            "product_id": 5000 + n,
            "category_id": n % 4,
            "name": f"Product {n}",
            "price": 12 if n % 3 == 0 else round(9.5 + n * 1.25, 2),
            "released_on": f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            "updated": _stamp(27, n * 31, "+09:00"),
            "in_stock": n % 2 == 0,
            "tags": ["sale"] if n % 5 == 0 else [],
        }
        for n in range(1, count + 1)
    ]


@dataclass
class ProductsEnvelope(ShapedAPI):
    """``/api/v2/products``: ``{"data": {"items": [...]}, "page": P, "total_pages": N}``."""

    products: list[Record] = field(default_factory=lambda: make_products(27))

    def respond(self, path: str, query: dict[str, str]) -> Answer:
        if path != "/api/v2/products":
            return _not_found(path)
        per_page = int(query.get("per_page", 10))
        page = int(query.get("page", 1))
        chunk = self.products[(page - 1) * per_page : page * per_page]
        pages = -(-len(self.products) // per_page)
        body = {"data": {"items": chunk}, "page": page, "per_page": per_page, "total_pages": pages}
        return 200, {**body, "total": len(self.products)}, {}
