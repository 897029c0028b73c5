"""Every pagination kind and write mode lands the source exactly, in both PostgreSQL versions."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest

from dailyfetch.errors import LoadError, SourceError
from dailyfetch.runner import run_job
from support.configs import fetch_table, ledger_rows, load, make_config
from support.fakeapi import FakeAPI, make_records

DAY = date(2026, 11, 1)


def expected(partitions: list[str], count: int = 25, day: date = DAY) -> list[dict[str, Any]]:
    """The records the fake API serves for ``partitions`` on ``day``."""
    out = []
    for p in partitions:
        out += make_records(day.isoformat(), p, count)
    return sorted(out, key=lambda r: r["id"])


def assert_matches(rows: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
    """The table holds exactly ``records``, value for value."""
    assert len(rows) == len(records)
    assert len({r["id"] for r in rows}) == len(rows), "duplicate keys landed"
    for row, record in zip(rows, records, strict=True):
        for key, value in record.items():
            assert row[key] == value, (key, row[key], value)


@pytest.mark.parametrize(
    "kind", ["page_number", "offset", "cursor", "next_url", "link_header", "none", "stripe"]
)
def test_every_pagination_kind_lands_every_record_once(kind: str, api: FakeAPI, db_url: str) -> None:
    """Each pagination kind fetches all pages of all partitions and lands each record once."""
    config = load(make_config(api.url, kind=kind))
    result = run_job(config, logical_date=DAY, database_url=db_url)
    assert result.outcome == "succeeded", result.error
    assert result.rows == 50
    assert_matches(fetch_table(db_url), expected(["eu", "us"]))


@pytest.mark.parametrize("write", ["merge", "append", "replace"])
def test_write_modes_hold_exactly_the_source_after_a_forced_rerun(
    write: str, api: FakeAPI, db_url: str
) -> None:
    """merge, append and replace all hold the source exactly, even after --force fetches it again."""
    config = load(make_config(api.url, write=write, primary_key='["id"]' if write != "append" else ""))
    assert run_job(config, logical_date=DAY, database_url=db_url).outcome == "succeeded"
    again = run_job(config, logical_date=DAY, database_url=db_url, force=True)
    assert again.outcome == "succeeded"
    assert_matches(fetch_table(db_url), expected(["eu", "us"]))


def test_replace_swaps_in_only_the_new_days_data(api: FakeAPI, db_url: str) -> None:
    """replace leaves exactly the latest run's rows, and no shadow tables behind."""
    config = load(make_config(api.url, write="replace"))
    run_job(config, logical_date=DAY, database_url=db_url)
    run_job(config, logical_date=date(2026, 11, 2), database_url=db_url)
    rows = fetch_table(db_url)
    assert_matches(rows, expected(["eu", "us"], day=date(2026, 11, 2)))
    tables = ledger_rows(db_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert tables == [("orders",)]


def test_append_on_a_new_date_keeps_earlier_dates(api: FakeAPI, db_url: str) -> None:
    """append adds each date's rows and tags them with the logical date and partition."""
    config = load(make_config(api.url, write="append", primary_key=""))
    run_job(config, logical_date=DAY, database_url=db_url)
    run_job(config, logical_date=date(2026, 11, 2), database_url=db_url)
    counts = ledger_rows(
        db_url,
        "SELECT _dailyfetch_date, _dailyfetch_partition, count(*) FROM orders GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert counts == [
        (DAY, "region=eu", 25), (DAY, "region=us", 25),
        (date(2026, 11, 2), "region=eu", 25), (date(2026, 11, 2), "region=us", 25),
    ]  # fmt: skip


def test_columns_are_inferred_from_json_types(api: FakeAPI, db_url: str) -> None:
    """JSON integers, floats, booleans, strings, objects and arrays get their PostgreSQL types."""
    run_job(load(make_config(api.url)), logical_date=DAY, database_url=db_url)
    types = dict(
        ledger_rows(
            db_url,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'orders'",
        )
    )
    assert types == {
        "id": "text", "seq": "bigint", "amount": "double precision", "active": "boolean",
        "name": "text", "tags": "jsonb", "meta": "jsonb", "note": "text",
    }  # fmt: skip


def test_declared_column_types_win(api: FakeAPI, db_url: str) -> None:
    """A type in [destination.columns] overrides the inferred one."""
    text = make_config(api.url, extra_dest="[destination.columns]\nseq = 'integer'\namount = 'numeric'\n")
    text = text.replace("[destination.columns]", "").replace("seq = 'integer'\namount = 'numeric'\n", "")
    text += "[destination.columns]\nseq = 'integer'\namount = 'numeric'\n"
    run_job(load(text), logical_date=DAY, database_url=db_url)
    types = dict(
        ledger_rows(
            db_url,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'orders'",
        )
    )
    assert types["seq"] == "integer"
    assert types["amount"] == "numeric"


def test_a_field_that_appears_later_adds_a_column(db_url: str) -> None:
    """A field first seen in a later run becomes a new column; earlier rows hold NULL there."""
    api = FakeAPI(records_for=lambda d, p: [{"id": f"{d}-{i}", "v": i} for i in range(5)]).start()
    try:
        config = load(make_config(api.url, partitions=["eu"]))
        run_job(config, logical_date=DAY, database_url=db_url)
        api.records_for = lambda d, p: [{"id": f"{d}-{i}", "v": i, "extra": {"k": i}} for i in range(5)]
        run_job(config, logical_date=date(2026, 11, 2), database_url=db_url)
    finally:
        api.stop()
    rows = fetch_table(db_url)
    assert [r["extra"] for r in rows] == [None] * 5 + [{"k": i} for i in range(5)]


def test_a_value_that_does_not_fit_fails_naming_column_and_key(db_url: str) -> None:
    """A string arriving in a bigint column fails the run naming the column and the row's key."""
    api = FakeAPI(records_for=lambda d, p: [{"id": f"{d}-{i}", "n": i} for i in range(5)]).start()
    try:
        config = load(make_config(api.url, partitions=["eu"]))
        assert run_job(config, logical_date=DAY, database_url=db_url).outcome == "succeeded"
        api.records_for = lambda d, p: [{"id": f"{d}-x", "n": "not a number"}]
        result = run_job(config, logical_date=date(2026, 11, 2), database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "failed"
    assert result.error is not None
    assert "'n'" in result.error and "bigint" in result.error and "2026-11-02-x" in result.error
    assert len(fetch_table(db_url)) == 5
    status = ledger_rows(db_url, "SELECT status, error_class FROM dailyfetch.runs ORDER BY id DESC LIMIT 1")
    assert status == [("failed", "BadValueError")]


def test_float_into_bigint_is_not_truncated(db_url: str) -> None:
    """A float arriving in a bigint column is an error, never silently truncated."""
    api = FakeAPI(
        records_for=lambda d, p: [{"id": 1, "n": 1}] if d == "2026-11-01" else [{"id": 2, "n": 1.5}]
    ).start()
    try:
        config = load(make_config(api.url, partitions=["eu"]))
        run_job(config, logical_date=DAY, database_url=db_url)
        result = run_job(config, logical_date=date(2026, 11, 2), database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "failed"
    assert "1.5" in (result.error or "")
    assert [r["n"] for r in fetch_table(db_url)] == [1]


HOSTILE = 'x"; DROP TABLE y; --'


def test_hostile_identifiers_are_just_names(db_url: str) -> None:
    """Field, table and schema names full of SQL are quoted identifiers, nothing more."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE y (a int)")
    records = [{"id": i, HOSTILE: f"v{i}", "Mixed Case": True, "ünï": "ok", "a'b": "q"} for i in range(3)]
    api = FakeAPI(records_for=lambda d, p: records).start()
    try:
        text = make_config(api.url, partitions=["eu"], table='t"; DROP TABLE y; --')
        text = text.replace("[destination]", '[destination]\nschema = "we\'ird"')
        result = run_job(load(text), logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "succeeded", result.error
    rows = fetch_table(db_url, table='t"; DROP TABLE y; --', schema="we'ird")
    assert [r[HOSTILE] for r in rows] == ["v0", "v1", "v2"]
    assert [r["Mixed Case"] for r in rows] == [True, True, True]
    assert ledger_rows(db_url, "SELECT count(*) FROM y") == [(0,)]


def test_odd_strings_survive_byte_for_byte(db_url: str) -> None:
    """Quotes, backslashes, tabs, newlines, emoji and non-ASCII text come back exactly."""
    values = [
        'a"b',
        "a'b",
        "back\\slash",
        "\\N",
        "tab\there",
        "new\nline\r\n",
        "東京 ünï 🚀",
        "\\.",
        "",
        " ",
        "\u2028",
    ]
    api = FakeAPI(
        records_for=lambda d, p: [{"id": i, "s": v, "o": {"k": v}} for i, v in enumerate(values)]
    ).start()
    try:
        run_job(load(make_config(api.url, partitions=["eu"])), logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    rows = fetch_table(db_url)
    assert [r["s"] for r in rows] == values
    assert [r["o"]["k"] for r in rows] == values


def test_bad_payload_fails_with_url_and_status(db_url: str) -> None:
    """An HTML page served with 200 fails the run naming the URL and the body's first bytes."""
    api = FakeAPI(
        fail=lambda req: (200, {"Content-Type": "text/html"}, b"<html><body>Maintenance</body></html>")
    ).start()
    try:
        result = run_job(load(make_config(api.url, partitions=["eu"])), logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "failed"
    assert result.error is not None
    assert "HTTP 200" in result.error and "Maintenance" in result.error and api.url in result.error


def test_http_404_is_not_retried_and_names_status_and_url(db_url: str) -> None:
    """A 404 fails at once, naming the status and the URL."""
    api = FakeAPI(fail=lambda req: (404, {}, b'{"error": "no such date"}')).start()
    try:
        result = run_job(load(make_config(api.url, partitions=["eu"])), logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "failed"
    assert "HTTP 404" in (result.error or "")
    assert len(api.requests) == 1


def test_record_without_primary_key_fails(db_url: str) -> None:
    """A record lacking its primary key is a bad record: the run fails and nothing is written."""
    api = FakeAPI(records_for=lambda d, p: [{"id": 1}, {"name": "no id"}]).start()
    try:
        result = run_job(load(make_config(api.url, partitions=["eu"])), logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "failed"
    assert isinstance(result.error, str) and "primary key" in result.error


def test_python_source_with_checkpoints(tmp_path: Any, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python function source lands what it yields, and gets the date and partition."""
    (tmp_path / "myjobs.py").write_text(
        "import dailyfetch\n"
        "def fetch(ctx):\n"
        "    start = ctx.checkpoint or 0\n"
        "    for i in range(start, 30):\n"
        "        yield {'id': f\"{ctx.partition['region']}-{i}\", 'day': str(ctx.date)}\n"
        "        if i % 10 == 9:\n"
        "            yield dailyfetch.Checkpoint(i + 1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    text = (
        '[job]\nname = "py"\n[source]\nkind = "python"\nfunction = "myjobs:fetch"\n'
        '[source.partitions]\nregion = ["eu", "us"]\n[destination]\ntable = "py"\nprimary_key = ["id"]\nbatch_size = 7\n'
    )
    result = run_job(load(text), logical_date=DAY, database_url=db_url)
    assert result.outcome == "succeeded", result.error
    rows = fetch_table(db_url, table="py")
    assert len(rows) == 60 and {r["day"] for r in rows} == {"2026-11-01"}


def test_source_error_raises_named_kind() -> None:
    """SourceError and LoadError are both DailyfetchErrors (one hierarchy)."""
    from dailyfetch.errors import DailyfetchError

    assert issubclass(SourceError, DailyfetchError) and issubclass(LoadError, DailyfetchError)


def test_a_python_source_raising_fails_the_run_cleanly(
    tmp_path: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An arbitrary exception from a Python source fails the run with a one-line error and a failed ledger row."""
    (tmp_path / "brokenjobs.py").write_text(
        "def fetch(ctx):\n    yield {'id': 1}\n    raise ValueError('upstream said no')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    text = (
        '[job]\nname = "py"\n[source]\nkind = "python"\nfunction = "brokenjobs:fetch"\n'
        '[destination]\ntable = "py"\nprimary_key = ["id"]\n'
    )
    result = run_job(load(text), logical_date=DAY, database_url=db_url)
    assert result.outcome == "failed" and result.exit_code == 1
    assert (
        result.error is not None
        and "ValueError: upstream said no" in result.error
        and "\n" not in result.error
    )
    assert ledger_rows(db_url, "SELECT status FROM dailyfetch.runs") == [("failed",)]


def test_force_fences_the_superseded_generation(api: FakeAPI, db_url: str) -> None:
    """--force takes the claims of the date's older generation away, so its workers can no longer commit."""
    from dailyfetch import ledger
    from dailyfetch.errors import ClaimLostError

    config = load(make_config(api.url, partitions=["eu"]))
    assert run_job(config, logical_date=DAY, database_url=db_url).outcome == "succeeded"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE dailyfetch.runs SET status = 'running'")
        conn.execute(
            "UPDATE dailyfetch.partitions SET status = 'running', claimed_by = 'old-host:1:aaaaaa', "
            "lease_until = now() + interval '1 hour'"
        )
    assert run_job(config, logical_date=DAY, database_url=db_url, force=True).outcome == "succeeded"
    with psycopg.connect(db_url) as conn, pytest.raises(ClaimLostError):
        ledger.save_progress(
            conn, 1, "region=eu", "old-host:1:aaaaaa", {"page": 9}, rows=1, pages=1, lease_seconds=60
        )
    statuses = ledger_rows(db_url, "SELECT generation, status FROM dailyfetch.runs ORDER BY generation")
    assert statuses == [(1, "interrupted"), (2, "succeeded")]


def test_a_string_postgresql_cannot_parse_is_named_or_skipped(db_url: str) -> None:
    """A bad timestamp in a declared timestamptz column fails naming column and key; with skip it is counted and the rest lands."""
    records = [{"id": i, "ts": f"2026-11-01T0{i}:00:00Z"} for i in range(5)]
    records[3]["ts"] = "not a date"
    api = FakeAPI(records_for=lambda d, p: records).start()
    try:
        text = make_config(api.url, partitions=["eu"]) + "[destination.columns]\nts = 'timestamptz'\n"
        failed = run_job(load(text), logical_date=DAY, database_url=db_url)
        skip = text.replace("[source.partitions]", 'on_bad_record = "skip"\n[source.partitions]')
        skipped = run_job(load(skip), logical_date=date(2026, 11, 2), database_url=db_url)
    finally:
        api.stop()
    assert failed.outcome == "failed"
    assert (
        "'ts'" in (failed.error or "")
        and "id=3" in (failed.error or "")
        and "not a date" in (failed.error or "")
    )
    assert skipped.outcome == "succeeded", skipped.error
    assert [r["id"] for r in fetch_table(db_url)] == [0, 1, 2, 4]
    ((count,),) = ledger_rows(db_url, "SELECT sum(bad_records) FROM dailyfetch.partitions")
    assert count == 1


def test_replace_drops_the_shadow_of_a_superseded_generation(db_url: str) -> None:
    """A replace run that failed half-way leaves a shadow table; the --force run that succeeds drops it."""
    broken = {"on": True}

    def fail(req: dict[str, Any]) -> Any:
        if broken["on"] and req["query"].get("page") == "3":
            return (404, {}, b'{"error": "gone"}')
        return None

    api = FakeAPI(fail=fail).start()
    try:
        config = load(make_config(api.url, write="replace", partitions=["eu"], batch_size=10))
        assert run_job(config, logical_date=DAY, database_url=db_url).outcome == "failed"
        shadows = ledger_rows(
            db_url, "SELECT count(*) FROM pg_tables WHERE starts_with(tablename, '_dailyfetch_')"
        )
        assert shadows == [(1,)]
        broken["on"] = False
        assert run_job(config, logical_date=DAY, database_url=db_url, force=True).outcome == "succeeded"
    finally:
        api.stop()
    assert ledger_rows(db_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == [("orders",)]
    assert len(fetch_table(db_url)) == 25


def test_merge_switches_to_upsert_when_a_later_batch_meets_existing_keys(db_url: str) -> None:
    """Batches try a plain INSERT first; one that meets existing keys upserts them instead, mid-run."""
    api = FakeAPI(records_for=lambda d, p: [{"id": i, "v": "first"} for i in range(10)]).start()
    try:
        config = load(make_config(api.url, partitions=["eu"], batch_size=10))
        assert run_job(config, logical_date=DAY, database_url=db_url).outcome == "succeeded"
        # The next day: 10 new keys in the first batch (plain INSERT), then the 10 old keys changed.
        api.records_for = lambda d, p: [{"id": i, "v": "second"} for i in [*range(10, 20), *range(10)]]
        result = run_job(config, logical_date=date(2026, 11, 2), database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "succeeded", result.error
    rows = fetch_table(db_url)
    assert [(r["id"], r["v"]) for r in rows] == [(i, "second") for i in range(20)]


def test_merge_into_a_table_without_a_unique_key_fails_instead_of_duplicating(
    api: FakeAPI, db_url: str
) -> None:
    """A merge into an existing table whose key is not enforced fails loudly and writes nothing."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id text, amount double precision)")
    config = load(make_config(api.url, partitions=["eu"]))
    result = run_job(config, logical_date=DAY, database_url=db_url)
    assert result.outcome == "failed"
    assert "no unique or exclusion constraint" in (result.error or "")
    assert ledger_rows(db_url, "SELECT count(*) FROM orders") == [(0,)]
