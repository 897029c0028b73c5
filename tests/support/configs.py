"""Helpers for integration tests: write a config for the fake API, read tables and the ledger back."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from dailyfetch.config import Config
from dailyfetch.config_file import parse_config


def make_config(
    api_url: str,
    *,
    kind: str = "page_number",
    table: str = "orders",
    write: str | None = "merge",
    partitions: list[str] | None = None,
    batch_size: int = 10,
    extra_source: str = "",
    extra_dest: str = "",
    job: str = "orders",
    pagination: str | None = None,
    primary_key: str = '["id"]',
    records: str | None = None,
) -> str:
    """A dailyfetch.toml for the fake API."""
    paginations = {
        "page_number": '{ kind = "page_number", param = "page", start = 1 }',
        "offset": '{ kind = "offset", param = "offset", limit_param = "limit", limit = 10 }',
        "cursor": '{ kind = "cursor", param = "cursor", path = "next_cursor" }',
        "next_url": '{ kind = "next_url", path = "links.next" }',
        "link_header": '{ kind = "link_header" }',
        "none": '{ kind = "none" }',
        "stripe": '{ kind = "cursor", param = "starting_after", from_last_record = "id", has_more = "has_more" }',
    }
    default_records = {"page_number": "data.items", "link_header": None, "stripe": "data"}.get(kind, "items")
    records = records if records is not None else default_records
    parts = partitions if partitions is not None else ["eu", "us"]
    lines = [
        "[job]",
        f'name = "{job}"',
        "[source]",
        'kind = "rest"',
        f'url = "{api_url}/{kind}/{{date}}/{{region}}"',
        f"pagination = {pagination or paginations[kind]}",
    ]
    if records:
        lines.append(f'records = "{records}"')
    lines += [
        extra_source,
        "[source.partitions]",
        f"region = {parts!r}".replace("'", '"'),
        "[destination]",
        f"table = {json.dumps(table)}",
        f"batch_size = {batch_size}",
        extra_dest,
    ]
    if primary_key:
        lines.append(f"primary_key = {primary_key}")
    if write:
        lines.append(f'write = "{write}"')
    return "\n".join(lines) + "\n"


def load(text: str, env: dict[str, str] | None = None) -> Config:
    """Parse a config text."""
    return parse_config(text, source="test.toml", env=env or {})


def fetch_table(
    db_url: str, table: str = "orders", schema: str = "public", order: str = "id"
) -> list[dict[str, Any]]:
    """All rows of a table as dicts."""
    with psycopg.connect(db_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(
            psycopg.sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                psycopg.sql.Identifier(schema, table), psycopg.sql.Identifier(order)
            )
        )
        return list(cur.fetchall())


def ledger_rows(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a ledger query."""
    with psycopg.connect(db_url) as conn:
        return conn.execute(sql, params).fetchall()
