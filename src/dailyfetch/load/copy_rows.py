"""The fast path for new rows: the batch's values as binary ``COPY``, typed in Python.

Binary COPY spares PostgreSQL parsing the records as JSON and casting each field,
which is most of the server's work in a set-based insert (benchmarks/README.md).
It is used only where its result cannot differ from the set-based path's:

* every column written has one of the types dailyfetch infers (``bigint``,
  ``double precision``, ``boolean``, ``text``, ``jsonb``) and append mode's
  bookkeeping columns have the types dailyfetch gives them; a declared
  ``timestamptz``, ``numeric`` or ``integer`` column goes the set-based way, where
  PostgreSQL parses the value;
* :func:`dailyfetch.load.writer.check_values` has run, so each value's Python type
  is one its column accepts as-is;
* no float is NaN or infinite (the JSON path stores those as NULL).

Anything PostgreSQL or the binary encoders refuse (a key already present, an
integer out of range, a NUL in a string) rolls back to a savepoint, and the batch
goes the set-based way, which names the bad row exactly as before. A ``jsonb``
column's values from typed pages (:class:`dailyfetch.load.columns.JsonbValues`) are the
source's own JSON text; others are re-encoded from Python values: ``1.50`` is stored
as ``1.5`` and decimals beyond a double's precision are rounded, as in the staging path.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from itertools import repeat
from typing import Any, Literal

import orjson
import psycopg
from psycopg import sql
from psycopg.adapt import PyFormat

from dailyfetch import jsontext
from dailyfetch.load.columns import Columns, JsonbValues, jsonb_binary
from dailyfetch.load.names import column_name

# Column types whose binary form psycopg writes from the Python value JSON decodes to.
_DATA_TYPES = frozenset({"bigint", "double precision", "boolean", "text", "jsonb"})
# Append mode's bookkeeping columns (dates, partition names, window starts).
_TAG_TYPES = frozenset({"date", "text", "timestamp without time zone"})
# Errors after which the set-based path is tried instead (it reports them exactly).
# NotSupportedError: COPY FROM into a table under row-level security; struct.error: the
# pure-Python int dumper's out-of-range integer (the C one raises OverflowError).
FALLBACK_ERRORS = (
    psycopg.DataError,
    psycopg.IntegrityError,
    psycopg.NotSupportedError,
    OverflowError,
    ValueError,
    TypeError,
    struct.error,
)
# The table as COPY will write it, read under the lock COPY takes anyway (ROW EXCLUSIVE), so
# no ALTER TABLE can change a column's type between this check and the COPY: binary data
# read by another type's receive function could be silently misread. Rules and row-level
# security, which COPY does not apply (or refuses), send the batch the set-based way.
_TABLE_AS_COPIED = """
SELECT c.relhasrules OR c.relrowsecurity,
       array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY array_position({names}::text[], a.attname::text))
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.oid = {table}::regclass AND a.attname = ANY({names}::text[]) AND a.attnum > 0 AND NOT a.attisdropped
GROUP BY c.relhasrules, c.relrowsecurity
"""


def column_types(
    columns: dict[str, str], names: Sequence[str], tags: Sequence[tuple[str, Any]]
) -> list[str] | None:
    """The COPY types of ``names`` then the ``tags`` columns, or ``None`` if any is not eligible."""
    types = [columns[n] for n in names]
    tag_types = [columns.get(c, "") for c, _ in tags]
    if not set(types) <= _DATA_TYPES or not set(tag_types) <= _TAG_TYPES:
        return None
    return types + tag_types


def try_copy(
    conn: psycopg.Connection[Any],
    table: sql.Identifier,
    records: Sequence[dict[str, Any]],
    columns: dict[str, str],
    names: Sequence[str],
    tags: Sequence[tuple[str, Any]],
    by_field: Columns | None,
) -> Literal["copied", "known key", "declined"]:
    """Try the batch as binary COPY in a savepoint: ``"copied"``, or why it went back.

    ``"known key"``: the table already holds one of the batch's keys (merge mode turns
    to upserts). ``"declined"``: a column type, a float or a value the fast path cannot
    take, left to the set-based path, which stores or names it exactly.
    """
    types = column_types(columns, names, tags)
    if types is None:
        return "declined"
    values: Columns = by_field if by_field is not None else {n: [r.get(n) for r in records] for n in names}
    if not _savepoint_and_check(conn, table, [*map(column_name, names), *(c for c, _ in tags)], types):
        return "declined"  # nothing written: the savepoint is simply left behind
    try:
        if copy_batch(conn, table, names, types, values, tags):
            return "copied"  # the savepoint is released with the transaction's commit
        return "declined"
    except psycopg.errors.UniqueViolation:
        _rollback_to_savepoint(conn)
        return "known key"
    except FALLBACK_ERRORS:
        _rollback_to_savepoint(conn)
        return "declined"


_SAVEPOINT = sql.Identifier("dailyfetch_copy")


def _savepoint_and_check(
    conn: psycopg.Connection[Any], table: sql.Identifier, targets: list[str], types: Sequence[str]
) -> bool:
    """Set the savepoint, lock ``table`` as COPY would, check its columns still have ``types``
    and that it has no rule or RLS: three statements in one round trip (simple query protocol)."""
    query = sql.SQL("SAVEPOINT {}; LOCK TABLE {} IN ROW EXCLUSIVE MODE; ").format(_SAVEPOINT, table)
    check = sql.SQL(_TABLE_AS_COPIED).format(
        names=sql.Literal(targets), table=sql.Literal(table.as_string(conn))
    )
    with conn.cursor() as cur:
        cur.execute(query + check)
        while cur.nextset():
            pass
        row = cur.fetchone()
    return row is not None and not row[0] and list(row[1]) == list(types)


def _rollback_to_savepoint(conn: psycopg.Connection[Any]) -> None:
    conn.execute(sql.SQL("ROLLBACK TO SAVEPOINT {}").format(_SAVEPOINT))


def copy_batch(
    conn: psycopg.Connection[Any],
    table: sql.Identifier,
    names: Sequence[str],
    types: Sequence[str],
    values: Columns,
    tags: Sequence[tuple[str, Any]],
) -> bool:
    """COPY the batch (``values`` of each of ``names``, then the constant ``tags``) into ``table``.

    Returns ``False``, having written nothing, if a float rules the fast path out.
    Raises what PostgreSQL or psycopg raise (see :data:`FALLBACK_ERRORS`); the
    caller runs this in a savepoint.
    """
    if not names:
        return False
    data, wire_types = [], []
    for name, pg_type in zip(names, types, strict=False):
        column = values[name]
        if pg_type == "double precision" and not _finite(column):
            return False
        if pg_type == "jsonb":
            # Binary jsonb is a version byte and the JSON text. psycopg's bytea dumper
            # writes these bytes as they are; the server reads them with jsonb's own
            # receive function (binary COPY carries no types, only the table's).
            column = column if isinstance(column, JsonbValues) else _jsonb_binary(column)
            pg_type = "bytea"
        data.append(column)
        wire_types.append(pg_type)
    wire_types += types[len(names) :]
    targets = sql.SQL(", ").join(sql.Identifier(n) for n in [*map(column_name, names), *(c for c, _ in tags)])
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table, targets)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        # psycopg's C bytes dumper, not the DB-API ``Binary`` one a lookup by OID finds.
        cur.adapters.register_dumper(bytes, psycopg.adapters.get_dumper(bytes, PyFormat.BINARY))
        copy.set_types(wire_types)
        write = copy.write_row
        for row in zip(*data, *(repeat(v) for _, v in tags), strict=False):  # tags repeat
            write(row)
    return True


def _finite(values: Sequence[Any]) -> bool:
    """Whether no value is NaN or infinite (a sum that overflows merely sends the batch the slow way)."""
    try:
        return math.isfinite(sum(filter(None, values)))
    except (OverflowError, TypeError):
        return False


def _jsonb_binary(values: Sequence[Any]) -> JsonbValues:
    """``jsonb``'s binary form of each value; ``None`` stays NULL (a JSON null is stored as NULL).

    orjson encodes a NaN or infinite float as ``null``: that too becomes SQL NULL, as the
    set-based path's ``NULLIF(doc -> field, 'null')`` makes it. A column orjson refuses
    (an integer beyond 64 bits, deep nesting) is encoded again by :func:`jsontext.dumps`.
    """
    for dumps in (orjson.dumps, jsontext.dumps):
        try:
            if None in values:
                return jsonb_binary([None if v is None else dumps(v) for v in values])
            return jsonb_binary(list(map(dumps, values)))  # all in C
        except orjson.JSONEncodeError:
            continue
    raise TypeError("a value is not JSON")  # pragma: no cover - jsontext.dumps raises TypeError itself
