"""Compressed bodies are checked to their end: a gzip body without its trailer, or with a bad CRC, never lands.

RFC 1952: a gzip member ends with CRC32 and ISIZE (8 bytes); only they prove the
data decoded is the data sent. The server is raw sockets, so it can send a body whose
Content-Length matches the bytes it sends, trailer or not. The deflate blocks are
stored (level 0), so a flipped byte decodes without any inflate error: only the
trailer can catch it.
"""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Callable
from datetime import date

import psycopg
import pytest

from dailyfetch.fetch.http import retries_for_testing
from dailyfetch.runner import run_job
from support.configs import ledger_rows, load
from support.raw_http import RawRequest, RawServer, response_head

DAY = date(2026, 11, 5)
RECORDS = [{"id": i, "name": f"name-{i:03d}"} for i in range(5)]


def _gzip_server(mangle: Callable[[bytes], bytes]) -> RawServer:
    body = mangle(gzip.compress(json.dumps({"items": RECORDS}).encode(), compresslevel=0, mtime=0))

    def serve(_server: RawServer, conn: socket.socket, _request: RawRequest) -> None:
        head = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Content-Length": str(len(body)),
        }
        conn.sendall(response_head(200, head) + body)

    return RawServer(serve).start()


def _flip(data: bytes) -> bytes:
    at = data.index(b"name-003") + 5  # a byte inside a stored block: inflates fine, to other data
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _run(server: RawServer, db_url: str) -> tuple[str, str | None]:
    text = (
        '[job]\nname = "gz"\n[source]\nkind = "rest"\n'
        f'url = "{server.url}/items"\nrecords = "items"\nretry_attempts = 2\n'
        '[destination]\ntable = "gz"\nprimary_key = ["id"]\n'
    )
    with retries_for_testing(attempts=2):
        result = run_job(load(text), logical_date=DAY, database_url=db_url)
    return result.outcome, result.error


def _landed(db_url: str) -> list[tuple[int, str]]:
    try:
        return [
            (int(i), str(n)) for i, n in ledger_rows(db_url, "SELECT id, name FROM public.gz ORDER BY id")
        ]
    except psycopg.errors.UndefinedTable:
        return []


def test_an_intact_gzip_body_lands(db_url: str) -> None:
    """The control: the same server with the trailer intact lands every record as sent."""
    server = _gzip_server(lambda data: data)
    try:
        assert _run(server, db_url) == ("succeeded", None)
    finally:
        server.stop()
    assert _landed(db_url) == [(r["id"], r["name"]) for r in RECORDS]


@pytest.mark.parametrize(
    "fault, mangle",
    [
        ("trailer cut off", lambda data: data[:-8]),
        ("trailer cut off, a byte flipped", lambda data: _flip(data[:-8])),
        ("half the trailer", lambda data: data[:-4]),
    ],
)
def test_a_gzip_body_cut_before_its_trailer_fails_naming_the_url(
    fault: str, mangle: Callable[[bytes], bytes], db_url: str
) -> None:
    """A gzip body missing (part of) its 8-byte trailer is retried as a transport fault, then fails naming the URL; nothing lands."""
    server = _gzip_server(mangle)
    url = f"{server.url}/items"
    try:
        outcome, error = _run(server, db_url)
    finally:
        server.stop()
    assert outcome == "failed", fault
    assert error is not None and url in error and "cut short" in error, error
    assert len(server.requests) == 2  # transient: retried once
    assert _landed(db_url) == []
    ((error_class,),) = ledger_rows(db_url, "SELECT error_class FROM dailyfetch.runs")
    assert error_class == "TransientSourceError"


def test_a_gzip_body_whose_crc_does_not_match_fails_naming_the_url(db_url: str) -> None:
    """With the trailer intact, a flipped byte fails its CRC32: a transient error naming the URL, nothing lands."""
    server = _gzip_server(_flip)
    url = f"{server.url}/items"
    try:
        outcome, error = _run(server, db_url)
    finally:
        server.stop()
    assert outcome == "failed"
    assert error is not None and url in error and "does not decode" in error, error
    assert _landed(db_url) == []
