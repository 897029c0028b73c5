"""Typed decoding: pages whose records have a known shape, decoded into compact rows.

Most APIs send every record with the same fields, each always of the same JSON
type. The worker describes the first page's records (:meth:`ShapeSlot.settle`:
each field and the family of its column, the table's or the one the batch will
create) and hands that shape to the fetch threads through a :class:`ShapeSlot`.
That page and the later ones are decoded with msgspec into one small struct per
record, not a dict: each scalar is checked against the JSON types its column
takes as they are (:func:`dailyfetch.load.columns.accepts`)
and a value bound for a ``json``/``jsonb`` column stays the JSON text it came as,
so nested objects and arrays are never built as Python objects and dumped again.
On W1 that is less than half the loader's CPU per page (benchmarks/README.md).

Nothing is coerced. A page the shape does not fit exactly (a new field, a value
of another JSON type, the records path absent, a body that is not
JSON) is decoded the general way (orjson, dicts) as if no shape were set, and the
slot is emptied; the next page decoded the general way sets a new shape, at most
:data:`MAX_MISSES` times per partition. So a source whose records vary costs a
failed typed decode and a second decode for a page, three times at most.

:class:`TypedRecords` is a ``Sequence`` of records: indexing or iterating it
builds the same dicts the general decoding gives (a ``jsonb`` value decoded by
orjson), so every slow path (errors, skipped records, the staging table) works
unchanged. The fast paths read it column by column instead. A record may lack
any of the shape's fields, as in the general path: a field no record of a batch
has is not one of the batch's columns, and a record without it holds NULL there.

One visible difference: a ``jsonb`` value keeps its source text, so ``1.50`` is
stored as ``1.50`` where the general path's re-encoding stores ``1.5`` (equal as
``jsonb``; the raw-page path has always kept the source text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Any, Union, overload

import msgspec

from dailyfetch import jsontext
from dailyfetch.load.columns import accepts, jsonb_binary
from dailyfetch.load.keys import refuse_merged_types

Record = dict[str, Any]
MAX_MISSES = 3
_MAX_FIELDS = 256


def _field_type(family: str | None) -> Any:
    """What msgspec decodes a field of a column of ``family`` as: the JSON types the column takes
    as they are, or null; a ``json`` column's value as its text (``null`` included); a field with
    no column yet (only nulls seen) only as null."""
    if family is None:
        return None
    if family == "json":
        return msgspec.Raw
    return Union[(*accepts(family), None)]


class RecordShape:
    """The fields of a source's records and the JSON types each may hold; decodes pages that fit."""

    def __init__(
        self, fields: Sequence[str], families: Mapping[str, str | None], path: Sequence[str]
    ) -> None:
        self.fields = tuple(fields)
        self.attrs = tuple(f"f{i}" for i in range(len(self.fields)))
        self.attr_of = dict(zip(self.fields, self.attrs, strict=True))
        self.raw = frozenset(n for n in self.fields if families.get(n) == "json")
        self.families = dict(families)
        types = [_field_type(families.get(n)) for n in self.fields]
        # Two decoders: records with every field (most pages: no value to look for), and
        # records that may lack some (a lacking field reads as UNSET), tried second.
        self._complete = self._decoder([(a, t) for a, t in zip(self.attrs, types, strict=True)], path)
        self._sparse = self._decoder(
            [(a, t | msgspec.UnsetType, msgspec.UNSET) for a, t in zip(self.attrs, types, strict=True)], path
        )
        self._depth = len(path)

    def _decoder(self, fields: list[Any], path: Sequence[str]) -> msgspec.json.Decoder[Any]:
        rename = dict(zip(self.attrs, self.fields, strict=True))
        row = msgspec.defstruct("Row", fields, rename=rename, forbid_unknown_fields=True, gc=False)
        body: Any = list[row]  # type: ignore[valid-type]
        for part in reversed(path):  # other keys of the wrapping objects are skipped, not built
            body = msgspec.defstruct("Body", [("f0", body)], rename={"f0": part}, gc=False)
        return msgspec.json.Decoder(body)

    @classmethod
    def build(
        cls, fields: Sequence[str], families: Mapping[str, str | None], path: str | None
    ) -> RecordShape | None:
        """The shape of records with exactly ``fields``; ``families[name]`` is the family of the
        field's column (``None``: no column yet, only nulls seen). ``None`` when typed decoding
        does not apply (no fields, very many, a records path that indexes a list, or a name
        msgspec cannot match: one with a backslash, a double quote or a control character)."""
        parts = path.split(".") if path else []
        if not 0 < len(fields) <= _MAX_FIELDS or any(p.lstrip("-").isdigit() for p in parts):
            return None
        if any(_UNMATCHABLE.search(name) for name in [*fields, *parts]):
            return None
        return cls(fields, families, parts)

    def decode(self, content: bytes) -> TypedRecords | None:
        """The page's records, or ``None`` if the page does not fit the shape exactly."""
        complete = True
        try:
            body = self._complete.decode(content)
        except msgspec.ValidationError:
            complete = False  # perhaps a record lacks a field
            try:
                body = self._sparse.decode(content)
            except (msgspec.MsgspecError, RecursionError):
                return None
        except (msgspec.MsgspecError, RecursionError):  # RecursionError: nested deeper than msgspec goes
            return None
        for _ in range(self._depth):
            body = body.f0
        return TypedRecords(self, body, complete=complete)

    def as_dict(self, row: Any) -> Record:
        """One row as the dict the general decoding gives."""
        out = {}
        for name, attr in zip(self.fields, self.attrs, strict=True):
            value = getattr(row, attr)
            if value is not _MISSING:
                out[name] = jsontext.loads(bytes(value)) if name in self.raw else value
        return out


class TypedRecords(Sequence[Record]):
    """Records decoded by a :class:`RecordShape`: one struct each, read column by column."""

    __slots__ = ("_columns", "complete", "rows", "shape")

    def __init__(self, shape: RecordShape, rows: list[Any], *, complete: bool = False) -> None:
        self.shape = shape
        self.rows = rows
        self.complete = complete  # every record has every field: no UNSET to look for
        self._columns: dict[str, Sequence[Any]] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> TypedRecords: ...
    def __getitem__(self, index: int | slice) -> Record | TypedRecords:
        if isinstance(index, slice):
            return TypedRecords(self.shape, self.rows[index], complete=self.complete)
        return self.shape.as_dict(self.rows[index])

    def __iter__(self) -> Iterator[Record]:
        return map(self.shape.as_dict, self.rows)

    def column(self, name: str) -> list[Any]:
        """The values of field ``name`` as Python values (JSON decoded), ``None`` where a record lacks it."""
        values = list(map(attrgetter(self.shape.attr_of[name]), self.rows))
        if not self.complete and _MISSING in values:
            values = [None if v is _MISSING else v for v in values]
        if name in self.shape.raw:
            return [None if v is None else jsontext.loads(bytes(v)) for v in values]
        return values

    def columns(self) -> dict[str, Sequence[Any]]:
        """The values of each field some record has, ready for COPY: ``None`` where a record lacks
        the field, ``json`` fields as :class:`~dailyfetch.load.columns.JsonbValues`."""
        if self._columns is None:
            self._columns = {}
            for name, attr in zip(self.shape.fields, self.shape.attrs, strict=True):
                values = list(map(attrgetter(attr), self.rows))
                if not self.complete and _MISSING in values:
                    if all(v is _MISSING for v in values):
                        continue  # no record has it: not one of this batch's columns
                    values = [None if v is _MISSING else v for v in values]
                self._columns[name] = jsonb_binary(values) if name in self.shape.raw else values
        return self._columns

    def observed(self) -> dict[str, set[type]]:
        """Per field some record has, the Python types its values may have: what the general path's
        observation would report at most (the types the field's column takes as-is, and null)."""
        families = self.shape.families
        return {name: {*_kinds(families.get(name)), type(None)} for name in self.columns()}

    def has_values(self, names: Sequence[str]) -> bool:
        """Whether every record has a non-null value for each of ``names``."""
        columns = self.columns()
        return all(n in columns and None not in columns[n] for n in names)

    def latest_by_key(self, key: Sequence[str]) -> TypedRecords | None:
        """The last record for each value of ``key`` (fields with scalar values), in first-seen order;
        ``None`` where that needs the general path (a null or non-scalar key, or a key met twice
        where a record may lack a field: :func:`dailyfetch.load.keys.dedupe` merges those)."""
        columns = self.columns()
        if not key or any(k not in columns or k in self.shape.raw for k in key):
            return None
        values = columns[key[0]] if len(key) == 1 else list(zip(*(columns[k] for k in key), strict=True))
        latest: dict[Any, Any] = dict(zip(values, self.rows, strict=True))
        if None in latest if len(key) == 1 else any(None in k for k in latest):
            return None
        if len(latest) == len(self.rows):
            return self
        refuse_merged_types(key, values)  # 1 and 1.0 in a double precision key column
        if not self.complete:
            return None  # a record may lack a field an earlier one of its key has: merged the general way
        return TypedRecords(self.shape, list(latest.values()), complete=self.complete)


def _kinds(family: str | None) -> frozenset[type]:
    return accepts(family) if family is not None else frozenset()


_UNMATCHABLE = re.compile(r'[\\"\x00-\x1f]')
_MISSING = msgspec.UNSET  # the value of a field the record lacks


def join_records(parts: Sequence[Sequence[Record]]) -> Sequence[Record]:
    """The records of several pages as one batch: typed if every page was decoded with one shape."""
    first = parts[0] if parts else None
    if isinstance(first, TypedRecords) and all(
        isinstance(p, TypedRecords) and p.shape is first.shape for p in parts
    ):
        rows: list[Any] = []
        for part in parts:
            rows += part.rows  # type: ignore[attr-defined]
        return TypedRecords(first.shape, rows, complete=all(p.complete for p in parts))  # type: ignore[attr-defined]
    out: list[Record] = []
    for part in parts:
        out.extend(part)
    return out


class ShapeSlot:
    """The shape one partition's pages are decoded with, by its fetch threads and by its worker.

    The first page is decoded the general way; the worker then describes its records
    (:meth:`settle`) and decodes that page again with the new shape, as it does every page
    that arrives decoded the general way while a shape is set (fetched before it was). A page
    that does not fit empties the slot, and the next page the general way decoded sets a new
    shape: at most :data:`MAX_MISSES` misses a partition, then pages are decoded the general way.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.shape: RecordShape | None = None
        self.misses = 0
        self.typed_pages = 0

    def decode(self, content: bytes) -> TypedRecords | None:
        """The page's records decoded with the current shape, or ``None`` (no shape, or it does not fit)."""
        shape = self.shape
        if shape is None:
            return None
        records = shape.decode(content)
        if records is None:
            self._miss(shape)
        else:
            self.typed_pages += 1
        return records

    def settle(
        self,
        records: Sequence[Record],
        raw: bytes | None,
        describe: Callable[[Sequence[Record]], tuple[list[str], dict[str, str | None]]],
    ) -> Sequence[Record]:
        """A page's records, typed if they can be: ``records`` were decoded the general way from
        ``raw``; ``describe`` gives their fields and each one's column family for a new shape."""
        if isinstance(records, TypedRecords) or not records or raw is None:
            return records
        if self.shape is None and self.misses < MAX_MISSES:
            if set(map(type, records)) != {dict}:  # not all objects: the general path judges them
                self.misses += 1
                return records
            fields, families = describe(records)
            self.shape = RecordShape.build(fields, families, self.path)
            if self.shape is None:
                self.misses = MAX_MISSES  # this source's records cannot be typed
        return self.decode(raw) or records

    def _miss(self, shape: RecordShape) -> None:
        if self.shape is shape:  # not already replaced by another thread's miss
            self.shape = None
            self.misses += 1
