"""The load invariant, as a property: what a run reports succeeded is exactly the source.

Hypothesis generates record streams (pages of JSON records) with the inputs that have
broken loads: long, multibyte, case-variant, reserved-looking and NUL-bearing field
names; types that drift between pages; huge integers and bool/int mixes, in values and
in the key; nulls, missing fields, nested values, strings with NUL, escapes and non-BMP
characters. A stdlib server (:mod:`support.json_api`) serves them as a page-number API
on loopback, and a real run (``merge`` on ``id``, or ``append``) loads them into the
machine's PostgreSQL, into a table of its own per example.

After a run that succeeds, every (key, field, value) of the source is in the table,
equal by JSON semantics (numbers by value, an integer exactly, a boolean as a boolean),
with no row more or less. For merge, a key's row is its records upserted one by one: each
field holds the last value the source gave for it, however the records fall into batches. A run that cannot promise that must fail, with one line that names a
field or a key, and what it committed before failing must not contradict the source.
Field names PostgreSQL cannot hold as they are land in the column the ledger records
(``dailyfetch.column_names``), which must be :func:`dailyfetch.load.names.column_name`.

``DAILYFETCH_PROPERTY_EXAMPLES`` sets the number of examples (``make property``).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from psycopg import sql

from dailyfetch.errors import DailyfetchError
from dailyfetch.load.names import column_name
from dailyfetch.runner import RunResult, run_job
from support.cli import skip_or_fail
from support.configs import load
from support.json_api import JsonPagesAPI
from support.load_invariant import Problem, Table, json_kind, walk

MACHINE_PG = os.environ.get("DAILYFETCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
EXAMPLES = int(os.environ.get("DAILYFETCH_PROPERTY_EXAMPLES", "100"))
DAY = date(2026, 11, 1)
KEY = "id"

# ---------------------------------------------------------------- field names

SYSTEM_COLUMNS = ("ctid", "xmin", "xmax", "cmin", "cmax", "tableoid")
_names = st.one_of(
    st.sampled_from(["a", "b", "value", "name", "created_at"]),
    st.text("abcxyz_ -.", min_size=1, max_size=8),
    # case variants of each other and of the key
    st.sampled_from(["Id", "ID", "iD", "Name", "NAME", "Value"]),
    st.sampled_from(["select", "_dailyfetch_date", "_dailyfetch_partition", "oid", "", *SYSTEM_COLUMNS]),
    st.sampled_from(["k\x00ey", "\x00", "id\x00", "a\x00"]),
    # past PostgreSQL's 63 bytes; several share their first 63 bytes
    st.builds(str.__add__, st.sampled_from(["x" * 63, "x" * 62 + "é", "a" * 64]), st.text("xyz", max_size=4)),
    st.text("éßжя東🚀", min_size=20, max_size=40),  # 2- to 4-byte characters: 40 to 160 bytes
)

# ---------------------------------------------------------------- values

KINDS = ("int", "float", "bool", "str", "nested", "huge")
_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12),
    st.sampled_from(["a\x00b", "\\", '"', "\\u0000", "🚀", "\U0010ffff", "", "null", "1", "é\\n\t"]),
)
_ints = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, -1, 2**53, 2**53 + 1, 2**63 - 1, -(2**63)]),
)
_huge = st.one_of(
    st.sampled_from([2**63, 2**64, 2**64 + 1, -(2**63) - 1, 10**30 + 1]),
    st.integers(2**64, 2**200),
)
_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, -0.0, 0.1, 1e308, 5e-324, 2.0**53]),
)
_scalars = st.one_of(st.none(), st.booleans(), _ints, _huge, _floats, _text)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6,
)
_nested = st.lists(_json, max_size=3) | st.dictionaries(_text, _json, max_size=3)
VALUES = {
    "int": _ints,
    "float": _floats,
    "bool": st.booleans(),
    "str": _text,
    "nested": _nested,
    "huge": _huge,
}

# ---------------------------------------------------------------- keys

_keys = st.one_of(
    st.integers(0, 4),
    st.sampled_from([True, False, 2**53, 2**53 + 1, 2**64, 2**64 + 1, 10**30, 10**30 + 1, 1.0]),
    st.text('aAé🚀\\"\x00', min_size=0, max_size=2),
)
MISSING: Any = object()


@st.composite
def streams(draw: st.DrawFn) -> dict[str, Any]:
    """A stream: write mode, batch size, concurrency, and the records in the order pages serve them."""
    mode = draw(st.sampled_from(["merge", "append"]))
    fields = draw(st.lists(_names, max_size=5, unique=True).map(lambda f: [n for n in f if n != KEY]))
    per_page = draw(st.integers(1, 5))
    npages = draw(st.integers(1, 4))
    base = {f: draw(st.sampled_from(KINDS)) for f in fields}
    pool = draw(st.lists(_keys, min_size=1, max_size=5))
    bad_key = mode == "merge" and draw(st.booleans()) and draw(st.booleans())  # one in four
    records: list[dict[str, Any]] = []
    for page in range(npages):
        size = per_page if page < npages - 1 else draw(st.integers(1, per_page))
        # types that drift between pages: a field's kind may change from one page to the next
        kinds = {f: draw(st.sampled_from(KINDS)) if draw(st.booleans()) else base[f] for f in fields}
        for _ in range(size):
            record: dict[str, Any] = {}
            if mode == "merge":
                record[KEY] = draw(st.sampled_from(pool))
            for f in fields:
                how = draw(st.sampled_from(["value", "value", "value", "null", "missing"]))
                if how != "missing":
                    record[f] = None if how == "null" else draw(VALUES[kinds[f]])
            records.append(record)
    if bad_key:
        victim = records[draw(st.integers(0, len(records) - 1))]
        if draw(st.booleans()):
            del victim[KEY]
        else:
            victim[KEY] = None
    pages = [records[i : i + per_page] for i in range(0, len(records), per_page)]
    return {
        "mode": mode,
        "pages": pages,
        "ascii": [draw(st.booleans()) for _ in pages],  # \u escapes or raw UTF-8 on the wire
        "batch_size": draw(st.integers(1, 8)),
        "concurrency": draw(st.sampled_from([1, 3])),
    }


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL 15 for this module, dropped afterwards."""
    name = f"dfprop_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(MACHINE_PG, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        skip_or_fail(f"PostgreSQL at {MACHINE_PG} is not reachable: {exc}")
        raise
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(MACHINE_PG)
    info["dbname"] = name
    yield psycopg.conninfo.make_conninfo(**info)
    with psycopg.connect(MACHINE_PG, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def json_api() -> Iterator[JsonPagesAPI]:
    """One page-number JSON API for every example."""
    server = JsonPagesAPI().start()
    yield server
    server.stop()


# ---------------------------------------------------------------- the run


def run_stream(stream: dict[str, Any], api: JsonPagesAPI, database: str) -> tuple[RunResult, str]:
    """Serve ``stream``, run a job over it into a new table, return the result and the table name."""
    bodies = [
        json.dumps(page, ensure_ascii=ascii_, allow_nan=False).encode()
        for page, ascii_ in zip(stream["pages"], stream["ascii"], strict=True)
    ]
    stream_id, url = api.add(bodies)
    table = f"prop_{stream_id}"
    lines = [
        "[job]",
        f'name = "{table}"',
        "[source]",
        'kind = "rest"',
        f'url = "{url}"',
        'pagination = { kind = "page_number", param = "page", start = 1 }',
        f"concurrency = {stream['concurrency']}",
        "[destination]",
        f'table = "{table}"',
        f"batch_size = {stream['batch_size']}",
        f'write = "{stream["mode"]}"',
    ]
    if stream["mode"] == "merge":
        lines.append(f'primary_key = ["{KEY}"]')
    config = load("\n".join(lines) + "\n")
    try:
        result = run_job(config, logical_date=DAY, database_url=database)
    except DailyfetchError as exc:  # a failure raised rather than reported: still a failure
        result = RunResult(table, DAY, "failed", error=str(exc), exit_code=1)
    api.remove(stream_id)
    return result, table


def read_table(database: str, table: str) -> tuple[list[str], list[tuple[Any, ...]], dict[str, str]]:
    """The table's column names and rows (none if there is no table), and the columns the ledger
    maps fields to (``dailyfetch.column_names``: for names PostgreSQL cannot hold as they are)."""
    with psycopg.connect(database) as conn:
        mapped: dict[str, str] = {}
        if _exists(conn, "dailyfetch.column_names"):
            found = conn.execute(
                'SELECT field, "column" FROM dailyfetch.column_names WHERE schema = %s AND "table" = %s',
                ["public", table],
            )
            mapped = {json.loads(field): column for field, column in found}
        if not _exists(conn, sql.Identifier(table).as_string(conn)):
            return [], [], mapped
        cur = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
        return [d.name for d in cur.description or []], cur.fetchall(), mapped


def _exists(conn: psycopg.Connection[Any], relation: str) -> bool:
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [relation]).fetchone()
    return bool(found and found[0])


def mapping_problems(mapped: dict[str, str]) -> list[Problem]:
    """Columns the ledger records that are not the documented mapping of their field's name."""
    return [
        Problem("ledger column not the documented mapping", f"{f!r} -> {c!r}, not {column_name(f)!r}")
        for f, c in mapped.items()
        if column_name(f) != c
    ]


# ---------------------------------------------------------------- what the stream risks


def hazards(stream: dict[str, Any]) -> set[str]:
    """What in ``stream`` a run may refuse, by design or by PostgreSQL's limits. A stream with
    none must load: short plain names, one JSON type per field, no NUL, 64-bit integers."""
    records = [r for page in stream["pages"] for r in page]
    found: set[str] = set()
    # a page whose records (as a multiset, in any order) an earlier page had: a looping API
    # serves this too, refused by design (issue 15 #9)
    pages = [tuple(sorted(json.dumps(r, sort_keys=True) for r in page)) for page in stream["pages"] if page]
    if len(set(pages)) < len(pages):
        found.add("page repeats")
    if stream["mode"] == "merge":
        keys = [r.get(KEY) for r in records]
        if None in keys:
            found.add("key:null or missing")
        kinds = {json_kind(k) for k in keys if k is not None}
        found |= {"key:" + k for k in kinds & {"float", "huge"}}
        if len(kinds) > 1:
            found.add("key:mixed types")
        if any(isinstance(k, str) and "\x00" in k for k in keys):
            found.add("key:NUL")
    fields = {f for r in records for f in r if not (stream["mode"] == "merge" and f == KEY)}
    for name in fields:
        if len(name.encode()) > 63:
            found.add("name:long")
        if "\x00" in name:
            found.add("name:NUL")
        if name in SYSTEM_COLUMNS or not name:
            found.add("name:reserved")
        if name.startswith("_dailyfetch"):
            found.add("name:bookkeeping")
        if len({json_kind(r[name]) for r in records if r.get(name) is not None}) > 1:
            found.add("types drift")
        for value in (v for r in records for v in walk(r.get(name))):
            if isinstance(value, str) and "\x00" in value:
                found.add("value:NUL")
            if json_kind(value) == "huge":
                found.add("value:huge")
    return found


# ---------------------------------------------------------------- the checks


def mentions(message: str, stream: dict[str, Any]) -> bool:
    """Whether ``message`` names one of the stream's fields (quoted, or a word of 2 characters or
    more) or one of its keys."""
    records = [r for page in stream["pages"] for r in page]
    names = {f for r in records for f in r} | ({KEY} if stream["mode"] == "merge" else set())
    if any(len(n) > 1 and re.search(rf"(?<!\w){re.escape(n)}(?!\w)", message) for n in names):
        return True
    forms = set()
    for name in names - {""}:
        forms |= {repr(name), json.dumps(name), json.dumps(name, ensure_ascii=False)}
        if len(name) > 24:
            forms |= {repr(name)[:24], json.dumps(name)[:24]}  # a long name, shortened
    if "" in names:
        forms |= {"''", "empty"}  # not '""': PostgreSQL's own syntax error quotes it so
    if stream["mode"] == "merge":
        forms |= {f"{KEY}={r[KEY]!r}" for r in records if KEY in r}
    return any(form in message for form in forms)


def success_problems(stream: dict[str, Any], table: Table, result: RunResult) -> list[Problem]:
    """How a succeeded run's table differs from the source."""
    out = table.column_problems()
    if stream["mode"] == "merge":
        return out + table.merged_problems(complete=True)
    out += table.appended_problems(complete=True)
    if result.rows != len(table.records):
        out.append(Problem("rows reported", f"reported {result.rows} rows for {len(table.records)} records"))
    return out


def failure_problems(
    stream: dict[str, Any], table: Table | None, result: RunResult, database: str
) -> list[Problem]:
    """How a failed run falls short: its message, its ledger status, what it committed."""
    out = []
    message = (result.error or "").strip()
    if not message or "\n" in message:
        out.append(Problem("failure not one line", repr(message)))
    elif not mentions(message, stream) and not ("page repeats" in hazards(stream) and "page" in message):
        out.append(Problem("failure names no field or key", repr(message)))
    if not hazards(stream):
        out.append(Problem("a stream with nothing to refuse failed", repr(message)))
    if result.run_id is not None:
        with psycopg.connect(database) as conn:
            statuses = conn.execute(
                "SELECT status FROM dailyfetch.runs WHERE id = %s UNION ALL "
                "SELECT status FROM dailyfetch.partitions WHERE run_id = %s AND status = 'succeeded'",
                [result.run_id, result.run_id],
            ).fetchall()
        if statuses != [("failed",)]:
            out.append(Problem("ledger of a failed run", f"statuses {statuses}"))
    if table is not None:  # what was committed before the failure must be the source's
        if stream["mode"] == "merge":
            out += table.merged_problems(complete=False)
        else:
            out += table.appended_problems(complete=False)
    return out


_DEFECTS: dict[str, type[AssertionError]] = {}


def raise_first(problems: list[Problem]) -> None:
    """Fail with the first problem's category as the exception type, so that hypothesis shrinks
    and reports each class of defect on its own (it tells failures apart by type)."""
    if not problems:
        return
    category = problems[0].category
    kind = _DEFECTS.setdefault(category, type(f"Defect[{category}]", (AssertionError,), {}))
    details = "\n".join(f"{p.category}: {p.detail}" for p in problems[:12])
    raise kind(f"{category}\n{details}")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
@given(stream=streams())
@pytest.mark.timeout(120 + 8 * EXAMPLES)  # shrinking a failure reruns the job many times
def test_a_run_that_succeeds_holds_exactly_the_source(
    stream: dict[str, Any], json_api: JsonPagesAPI, database: str
) -> None:
    """After a succeeded run the table is the source by JSON semantics; a failed run says why in one line."""
    result, name = run_stream(stream, json_api, database)
    records = [r for page in stream["pages"] for r in page]
    key = KEY if stream["mode"] == "merge" else ""
    columns, rows, mapped = read_table(database, name)
    table = Table(records, columns, rows, lambda f: mapped.get(f, f), key)
    event(f"outcome: {result.outcome}")
    for risk in sorted(hazards(stream)):
        event(f"{result.outcome} with {risk}")
    note(f"outcome {result.outcome}: {result.error}")
    if result.outcome == "succeeded":
        raise_first(mapping_problems(mapped) + success_problems(stream, table, result))
    else:
        raise_first(failure_problems(stream, table if columns else None, result, database))
