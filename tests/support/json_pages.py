"""An API that serves JSON texts written by the test, byte for byte, and reads the table back.

Real APIs send what ``json.dumps`` of a Python test fixture never would: integers
beyond 64 bits, keys with NUL, names of any length. So pages here are JSON *texts*
(``dumps`` below keeps big integers exact, as RFC 8259 allows), served as
``{"items": <page>}`` either by page number (``?page=1``, an empty page past the
end: decoded typed) or by cursor (``"next"`` in the body: decoded the general way).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql

from support.local_server import LocalHTTPServer

Record = dict[str, Any]
PAGINATIONS = {
    "page_number": '{ kind = "page_number", param = "page", start = 1 }',
    "cursor": '{ kind = "cursor", param = "cursor", path = "next" }',
}


def dumps(value: Any) -> str:
    """JSON text of ``value``, integers exact at any size (the stdlib encoder)."""
    return json.dumps(value, ensure_ascii=False)


@dataclass
class PagesAPI(LocalHTTPServer):
    """Serves ``pages`` (each a JSON array of records, as text) at ``/page_number`` and ``/cursor``."""

    pages: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @classmethod
    def of(cls, records: list[Record], per_page: int = 10) -> PagesAPI:
        """The API serving ``records`` in pages of ``per_page``."""
        pages = [dumps(records[i : i + per_page]) for i in range(0, len(records), per_page)]
        return cls(pages=pages)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        self.requests.append(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path.startswith("/page_number"):
            index = int(query.get("page", "1")) - 1
            items = self.pages[index] if index < len(self.pages) else "[]"
            body = f'{{"items": {items}}}'
        else:
            index = int(query.get("cursor", "0"))
            more = index + 1 < len(self.pages)
            nxt = f'"{index + 1}"' if more else "null"
            body = f'{{"items": {self.pages[index] if self.pages else "[]"}, "next": {nxt}}}'
        data = body.encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def job_config(
    url: str,
    *,
    kind: str = "page_number",
    table: str = "items",
    job: str = "items",
    primary_key: list[str] | None = None,
    write: str | None = None,
    columns: dict[str, str] | None = None,
    batch_size: int = 10,
    extra_dest: str = "",
) -> str:
    """A one-partition job reading ``url``'s pages into ``table``."""
    lines = [
        "[job]",
        f"name = {json.dumps(job)}",
        "[source]",
        'kind = "rest"',
        f'url = "{url}/{kind}"',
        f"pagination = {PAGINATIONS[kind]}",
        'records = "items"',
        "[destination]",
        f"table = {json.dumps(table)}",
        f"batch_size = {batch_size}",
    ]
    if primary_key is not None:
        lines.append(f"primary_key = {json.dumps(primary_key, ensure_ascii=False)}")
    if write:
        lines.append(f'write = "{write}"')
    lines.append(extra_dest)
    if columns:
        lines.append("[destination.columns]")
        lines += [f"{json.dumps(k, ensure_ascii=False)} = {json.dumps(v)}" for k, v in columns.items()]
    return "\n".join(lines) + "\n"


def table_rows(db_url: str, table: str = "items", schema: str = "public") -> list[dict[str, Any]]:
    """Every row of ``schema.table``, keyed by column name."""
    with psycopg.connect(db_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table)))
        return list(cur.fetchall())


def column_of(db_url: str, field_name: str, table: str = "items", schema: str = "public") -> str:
    """The column ``field_name``'s values land in: the ledger's mapping, else the name itself."""
    with psycopg.connect(db_url) as conn:
        ledger = conn.execute("SELECT to_regclass('dailyfetch.column_names')").fetchone()
        if ledger is None or ledger[0] is None:
            return field_name
        rows = conn.execute(
            'SELECT "column", field FROM dailyfetch.column_names WHERE schema = %s AND "table" = %s',
            (schema, table),
        ).fetchall()
    found = [column for column, text in rows if json.loads(text) == field_name]
    return str(found[0]) if found else field_name


def same_json(stored: Any, value: Any) -> bool:
    """Whether a value read back from PostgreSQL equals a source value by JSON semantics."""
    if isinstance(value, bool) or isinstance(stored, bool):
        return type(stored) is type(value) and stored == value
    if isinstance(value, int | float) and isinstance(stored, int | float | Decimal):
        return Decimal(stored) == Decimal(value)
    if isinstance(value, dict) and isinstance(stored, dict):
        return stored.keys() == value.keys() and all(same_json(stored[k], value[k]) for k in value)
    if isinstance(value, list) and isinstance(stored, list):
        return len(stored) == len(value) and all(map(same_json, stored, value))
    return bool(stored == value) and type(stored) is type(value)


def missing_values(db_url: str, records: list[Record], key: str, table: str = "items") -> list[str]:
    """Every (key, field, value) of ``records`` (the last record per key) not in the table."""
    latest = {dumps(r[key]): r for r in records}
    by_key = {}
    for row in table_rows(db_url, table):
        by_key[dumps(_plain(row[column_of(db_url, key, table)]))] = row
    out = []
    for k, record in latest.items():
        row = by_key.get(k)
        if row is None:
            out.append(f"no row for {key}={k}")
            continue
        for name, value in record.items():
            if value is None:
                continue
            column = column_of(db_url, name, table)
            if column not in row or not same_json(row[column], value):
                out.append(f"{key}={k} {name!r}: {value!r} stored as {row.get(column, '<no column>')!r}")
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value
