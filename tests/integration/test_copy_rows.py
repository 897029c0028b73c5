"""The binary COPY path for new rows lands what the set-based path lands, or steps aside for it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import psycopg
import pytest

from dailyfetch.load import columns as cols
from dailyfetch.load import copy_rows, writer
from support.configs import fetch_table

ODD = 'tab\there "quote" \\ back\nnewline, ünïcödé 東京 ✓ 🚀 O\'Brien 100% {curly}'
RECORDS: list[dict[str, Any]] = [
    {"id": "a", "n": 2**63 - 1, "x": 1.25, "ok": True, "s": ODD, "tags": ["a", 1, None], "meta": {"k": {"n": 1}}},
    {"id": "b", "n": -(2**63), "x": 3, "ok": False, "s": "", "tags": [], "meta": {}},
    {"id": "c", "n": None, "x": None, "ok": None, "s": None, "tags": None},  # "meta" absent
    {"id": "d", "n": 0, "x": -0.5, "ok": True, "s": "plain", "tags": "a JSON string", "meta": 7},
]  # fmt: skip


def _write(
    conn: psycopg.Connection[Any],
    spec: writer.TableSpec,
    records: list[dict[str, Any]],
    tags: writer.AppendTags | None = None,
) -> int:
    """What partition._flush does for a batch: observe, prepare the table, check, write, commit."""
    values = cols.field_values(records)
    observed = cols.observe(records, values)
    columns = writer.prepare_table(conn, spec, spec.table, observed)
    names = [n for n in observed if n in columns]
    writer.check_values(records, observed, columns, spec.primary_key)
    with conn.transaction():
        return writer.write_batch(conn, spec, spec.table, records, columns, names, tags=tags, by_field=values)


def _spec(mode: writer.WriteMode = "merge", **kw: Any) -> writer.TableSpec:
    return writer.TableSpec("public", "orders", ["id"] if mode != "append" else [], mode, **kw)


def _statements_into(conn: psycopg.Connection[Any], table: str) -> None:
    """Record the text of every statement that inserts into ``table`` (COPY fires INSERT triggers)."""
    conn.execute("CREATE TABLE statements (query text)")
    conn.execute(
        "CREATE FUNCTION log_statement() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN INSERT INTO statements VALUES (current_query()); RETURN NULL; END $$"
    )
    conn.execute(
        psycopg.sql.SQL(
            "CREATE TRIGGER logged AFTER INSERT ON {} FOR EACH STATEMENT EXECUTE FUNCTION log_statement()"
        ).format(psycopg.sql.Identifier(table))
    )


def test_copy_lands_every_type_value_for_value(db_url: str) -> None:
    """Integers at bigint's limits, floats, booleans, odd strings, nested JSON and NULLs survive COPY."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "CREATE TABLE orders (id text PRIMARY KEY, n bigint, x double precision, ok boolean,"
            " s text, tags jsonb, meta jsonb)"
        )
        _statements_into(conn, "orders")
        conn.commit()
        assert _write(conn, _spec(), RECORDS) == 4
        queries = [q for (q,) in conn.execute("SELECT query FROM statements").fetchall()]
    assert len(queries) == 1 and queries[0].startswith("COPY"), queries  # one COPY, no fallback
    rows = fetch_table(db_url)
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]
    for row, record in zip(rows, RECORDS, strict=True):
        for key in ("n", "x", "ok", "s", "tags", "meta"):
            assert row[key] == record.get(key), (record["id"], key, row[key])
    assert isinstance(rows[1]["x"], float)  # the int 3 in a double precision column


def test_copy_and_the_set_based_path_store_the_same_rows(db_url: str) -> None:
    """The same batch through COPY and through the set-based path (a declared column rules COPY out) agree."""
    with psycopg.connect(db_url) as conn:
        _write(conn, _spec(), RECORDS)
        slow = writer.TableSpec("public", "slow", ["id"], "merge", declared={"extra": "timestamptz"})
        records = [{**r, "extra": None} for r in RECORDS]
        values = cols.field_values(records)
        observed = cols.observe(records, values)
        columns = writer.prepare_table(conn, slow, "slow", observed)
        names = [n for n in observed if n in columns]
        assert copy_rows.column_types(columns, names, []) is None  # timestamptz goes the set-based way
        with conn.transaction():
            writer.write_batch(conn, slow, "slow", records, columns, names, by_field=values)
    fast, slow_rows = fetch_table(db_url), fetch_table(db_url, table="slow")
    assert [{k: v for k, v in r.items() if k != "extra"} for r in slow_rows] == fast


def test_a_nan_from_a_python_source_is_null_as_on_the_json_path(db_url: str) -> None:
    """JSON has no NaN: the set-based path stores NULL, so COPY (which would store NaN) steps aside."""
    with psycopg.connect(db_url) as conn:
        _write(conn, _spec(), [{"id": "a", "x": 1.5}, {"id": "b", "x": float("nan")}])
    assert [r["x"] for r in fetch_table(db_url)] == [1.5, None]


@pytest.mark.parametrize(
    ("bad", "message"),
    [({"id": "z", "n": 2**63}, "out of range"), ({"id": "z", "n": 1, "s": "nul\x00here"}, "NUL")],
)
def test_a_value_copy_refuses_is_named_by_the_set_based_path(
    db_url: str, bad: dict[str, Any], message: str
) -> None:
    """A value COPY cannot encode or PostgreSQL refuses rolls back to the savepoint; nothing half-lands."""
    records = [{"id": "y", "n": 5, "s": "fine"}, bad]
    with psycopg.connect(db_url) as conn:
        _write(conn, _spec(), [{"id": "first", "n": 1, "s": "x"}])
        with pytest.raises(psycopg.DataError):
            _write(conn, _spec(), records)
        conn.rollback()
        found = cols.find_bad_value(records, writer.read_columns(conn, "public", "orders") or {}, ["id"])
        assert found is not None and message in str(found)
    assert [r["id"] for r in fetch_table(db_url)] == ["first"]


def test_merge_turns_to_upserts_when_copy_meets_an_existing_key(db_url: str) -> None:
    """COPY of a batch holding a known key fails as a whole; the batch is upserted instead, once."""
    spec = _spec()
    with psycopg.connect(db_url) as conn:
        _write(conn, spec, [{"id": "a", "v": "old"}, {"id": "b", "v": "old"}])
        assert spec.expect_new
        _write(conn, spec, [{"id": "c", "v": "new"}, {"id": "a", "v": "new"}])
        assert not spec.expect_new
    assert [(r["id"], r["v"]) for r in fetch_table(db_url)] == [("a", "new"), ("b", "old"), ("c", "new")]


def test_append_bookkeeping_columns_go_in_with_copy(db_url: str) -> None:
    """Append mode's date, partition and window columns are written as constants of the COPY."""
    spec = _spec("append", sub_day=True)
    tags = writer.AppendTags(date(2026, 11, 1), "part=eu", datetime(2026, 11, 1, 13, 0), job="orders")
    with psycopg.connect(db_url) as conn:
        assert _write(conn, spec, [{"id": "a", "v": 1}, {"id": "b", "v": 2}], tags=tags) == 2
    rows = fetch_table(db_url)
    assert [
        (r["id"], r[writer.DATE_COLUMN], r[writer.PARTITION_COLUMN], r[writer.WINDOW_COLUMN]) for r in rows
    ] == [
        ("a", date(2026, 11, 1), "part=eu", datetime(2026, 11, 1, 13, 0)),
        ("b", date(2026, 11, 1), "part=eu", datetime(2026, 11, 1, 13, 0)),
    ]


def test_copy_batch_writes_nothing_when_a_float_is_not_finite(db_url: str) -> None:
    """copy_batch itself declines (returns False) before sending anything for an infinite float."""
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TABLE t (id text, x double precision)")
        types = copy_rows.column_types({"id": "text", "x": "double precision"}, ["id", "x"], [])
        assert types == ["text", "double precision"]
        values: dict[str, list[Any]] = {"id": ["a", "b"], "x": [1.0, float("inf")]}
        assert not copy_rows.copy_batch(conn, psycopg.sql.Identifier("t"), ["id", "x"], types, values, [])
        values["x"] = [1.0, 2.0]
        assert copy_rows.copy_batch(conn, psycopg.sql.Identifier("t"), ["id", "x"], types, values, [])
        assert conn.execute("SELECT id, x FROM t ORDER BY id").fetchall() == [("a", 1.0), ("b", 2.0)]


def test_a_nan_in_a_jsonb_column_is_null_too(db_url: str) -> None:
    """orjson writes NaN as JSON null; COPY stores SQL NULL there, as the set-based path's NULLIF does."""
    with psycopg.connect(db_url) as conn:
        _write(
            conn, _spec(), [{"id": "a", "v": {"x": 1}}, {"id": "b", "v": float("nan")}, {"id": "c", "v": 2}]
        )
        nulls = conn.execute("SELECT id FROM orders WHERE v IS NULL").fetchall()
    assert nulls == [("b",)]
    assert [r["v"] for r in fetch_table(db_url)] == [{"x": 1}, None, 2]


def test_row_level_security_or_a_changed_column_type_sends_the_batch_the_set_based_way(db_url: str) -> None:
    """COPY does not apply row-level security and reads binary by the column's current type: both checked."""
    with psycopg.connect(db_url) as conn:
        spec = _spec()
        _write(conn, spec, [{"id": "a", "n": 1}])
        stale = writer.read_columns(conn, "public", "orders") or {}
        _statements_into(conn, "orders")
        # Another session changes a column's type after this worker read the table's columns.
        conn.execute("ALTER TABLE orders ALTER COLUMN n TYPE double precision")
        conn.commit()
        records = [{"id": "b", "n": 2**53 + 1}]
        with conn.transaction():
            writer.write_batch(conn, spec, "orders", records, stale, ["id", "n"])
        conn.execute("ALTER TABLE orders ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY everyone ON orders USING (true) WITH CHECK (true)")
        conn.commit()
        _write(conn, spec, [{"id": "c", "n": 3}])
        queries = [q for (q,) in conn.execute("SELECT query FROM statements").fetchall()]
    assert len(queries) == 2 and not any(q.startswith("COPY") for q in queries), queries
    assert [(r["id"], r["n"]) for r in fetch_table(db_url)] == [("a", 1.0), ("b", float(2**53)), ("c", 3.0)]
