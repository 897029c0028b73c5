"""After PostgreSQL refused a batch: which record, and which of its values, it refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from dailyfetch import jsontext
from dailyfetch.dberrors import refused_row
from dailyfetch.load import writer


def locate_bad_record(
    conn: psycopg.Connection[Any],
    spec: writer.TableSpec,
    into: str,
    records: Sequence[dict[str, Any]],
    columns: dict[str, str],
    names: Sequence[str],
    *,
    tags: writer.AppendTags | None = None,
) -> tuple[int, str, str] | None:
    """After PostgreSQL refused a batch, find the record and column it refused.

    Bisects the batch (:func:`~dailyfetch.dberrors.refused_row`, nothing is written), then
    casts the record's values one by one in a transaction that is rolled back too. Returns
    ``(index, column, PostgreSQL's message)``, or ``None`` if no single record fails.
    """
    index = refused_row(
        conn,
        records,
        psycopg.errors.DataError,
        lambda part: writer.write_batch(conn, spec, into, part, columns, names, tags=tags),
    )
    if index is None:
        return None
    record = records[index]
    try:
        with conn.transaction(force_rollback=True):
            for name in names:
                value = record.get(name)
                if value is None:
                    continue
                try:
                    with conn.transaction():
                        conn.execute(
                            sql.SQL("SELECT {} FROM (SELECT %s::jsonb AS doc) AS one").format(
                                writer.field_cast(name, columns[name])
                            ),
                            (jsontext.dumps(writer.jsonb_record(record)).decode(),),
                        )
                except psycopg.errors.DataError as exc:
                    lines = str(exc).strip().splitlines()
                    return index, name, lines[0] if lines else type(exc).__name__
    except psycopg.Error:
        return None
    return None
