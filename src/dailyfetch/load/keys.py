"""Primary keys within a batch: one record per key, and keys Python alone counts equal.

Python's ``true == 1 == 1.0`` (and ``false == 0``) would merge records whose keys
JSON, and PostgreSQL, tell apart: ``{"id": true}`` and ``{"id": 1}`` in one batch
would leave one row. Such a pair is an error naming the key field and both records.
It is looked for only when a batch holds a key twice, so a batch of distinct keys
costs nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from dailyfetch import jsontext
from dailyfetch.errors import SourceError

_NUMBERS = frozenset({bool, int, float})


def dedupe(records: Sequence[dict[str, Any]], primary_key: Sequence[str]) -> list[dict[str, Any]]:
    """One record per primary key, in first-seen order; a record without its key is an error.

    A key met again is merged field by field, the later record's fields winning: the
    row then holds what upserting the records one by one gives, as when the records
    come in different batches (a field the later record lacks keeps its value).
    """
    try:
        if len(primary_key) == 1:
            (name,) = primary_key
            keys: list[Any] = list(map(itemgetter(name), records))
            single = dict(zip(keys, records, strict=True))
            if None not in single:
                if len(single) == len(records):
                    return list(records)
                refuse_merged_types(primary_key, keys)
                return _merged(keys, records)
        else:
            keys = [tuple(record[k] for k in primary_key) for record in records]
            latest = dict(zip(keys, records, strict=True))
            if not any(None in key for key in latest):
                if len(latest) == len(records):
                    return list(records)
                refuse_merged_types(primary_key, keys)
                return _merged(keys, records)
    except (KeyError, TypeError):
        pass
    _explain_bad_key(records, primary_key)
    raise AssertionError("unreachable")  # pragma: no cover


def _merged(keys: Sequence[Any], records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of each key merged in order (later fields win), in the order keys first appear."""
    out: dict[Any, dict[str, Any]] = {}
    for key, record in zip(keys, records, strict=True):
        earlier = out.get(key)
        out[key] = record if earlier is None else {**earlier, **record}
    return list(out.values())


def refuse_merged_types(primary_key: Sequence[str], keys: Sequence[Any]) -> None:
    """Raise :class:`SourceError` if two of ``keys`` (one per record; tuples for a composite key) are
    equal in Python but of different JSON types (``true`` and ``1``, ``1`` and ``1.0``)."""
    composite = len(primary_key) > 1
    columns = list(zip(*keys, strict=True)) if composite else [keys]
    if all(len(_NUMBERS.intersection(map(type, column))) <= 1 for column in columns):
        return  # one number type at most per key field: equal keys are the same JSON value
    first: dict[Any, int] = {}
    for index, key in enumerate(keys):
        seen = first.setdefault(key, index)
        other = keys[seen]
        kinds = tuple(map(type, key)) if composite else type(key)
        if seen != index and kinds != (tuple(map(type, other)) if composite else type(other)):
            name = ", ".join(primary_key)
            raise SourceError(
                f"primary key {name!r}: record #{seen + 1} of the batch has {_show(other)} and "
                f"record #{index + 1} has {_show(key)}, equal only to Python: one would be lost",
                hint="give the key one JSON type in the source (all strings, or all integers)",
            )


def _show(key: Any) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return ", ".join(jsontext.dumps(p).decode() for p in parts)


def _explain_bad_key(records: Sequence[dict[str, Any]], primary_key: Sequence[str]) -> None:
    for index, record in enumerate(records):
        missing = [k for k in primary_key if k not in record]
        if missing:
            raise SourceError(
                f"record #{index + 1} of the batch has no primary key field {missing[0]!r}",
                hint="check [destination].primary_key against the records",
            )
        key = tuple(record[k] for k in primary_key)
        if None in key:
            raise SourceError(
                f"record #{index + 1} of the batch has a null primary key {dict(zip(primary_key, key, strict=True))}"
            )
        try:
            hash(key)
        except TypeError:
            raise SourceError(
                f"record #{index + 1} of the batch has a primary key that is not a scalar"
            ) from None
