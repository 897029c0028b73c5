"""A cursor beyond 64 bits (Stripe-style `starting_after` on a huge id) is kept exactly in progress."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import psycopg

from dailyfetch.runner import run_job
from support.configs import load
from support.local_server import LocalHTTPServer

DAY = date(2026, 11, 1)
BASE = 2**70
IDS = [BASE + n for n in range(1, 26)]


@dataclass
class AfterIdAPI(LocalHTTPServer):
    """Records in id order, `limit` a page after the id `starting_after` names (Stripe's list API)."""

    requests: list[str] = field(default_factory=list)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(handler.path).query).items()}
        self.requests.append(query.get("starting_after", ""))
        after = int(query.get("starting_after", "0"))
        chunk = [i for i in IDS if i > after][: int(query.get("limit", "10"))]
        body = json.dumps(
            {"data": [{"id": i, "v": str(i)} for i in chunk], "has_more": chunk[-1:] != IDS[-1:]}
        )
        data = body.encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def test_a_cursor_past_64_bits_is_committed_and_sent_back_exactly(db_url: str) -> None:
    """Progress holding a 71-bit cursor commits batch by batch; every id lands once, each sent back exact."""
    api = AfterIdAPI().start()
    try:
        config = load(f"""
[job]
name = "bigcursor"
[source]
kind = "rest"
url = "{api.url}/v1/things"
params = {{ limit = 5 }}
records = "data"
pagination = {{ kind = "cursor", param = "starting_after", from_last_record = "id", has_more = "has_more" }}
[destination]
table = "bigcursor"
primary_key = ["id"]
batch_size = 5
""")  # fmt: skip
        result = run_job(config, logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "succeeded", result.error
    with psycopg.connect(db_url) as conn:
        landed = [int(r[0]) for r in conn.execute("SELECT id FROM public.bigcursor ORDER BY id")]
        conn.execute("DROP TABLE public.bigcursor")
    assert landed == IDS
    assert api.requests == ["", *(str(i) for i in IDS[4:-1:5])]
