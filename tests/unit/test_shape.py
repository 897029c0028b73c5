"""Typed page decoding: pages that fit a shape give what the general decoding gives; others are refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from dailyfetch.fetch.shape import (
    MAX_MISSES,
    RecordShape,
    ShapeSlot,
    TypedRecords,
    join_records,
)
from dailyfetch.load import writer
from dailyfetch.load.columns import JsonbValues

FAMILIES: dict[str, str | None] = {
    "id": "text",
    "n": "integer",
    "x": "float",
    "ok": "boolean",
    "s": "text",
    "tags": "json",
    "meta": "json",
    "note": None,  # only nulls so far: no column
}
RECORDS: list[dict[str, Any]] = [
    {"id": "a", "n": 2**63 - 1, "x": 1.25, "ok": True, "s": 'tab\t"q" \\ 東京 🚀', "tags": ["a", 1, None], "meta": {"k": {"n": 1}}, "note": None},
    {"id": "b", "n": -3, "x": 3, "ok": False, "s": "", "tags": [], "meta": {}, "note": None},
    {"id": "c", "n": None, "x": None, "ok": None, "s": None, "tags": None, "meta": "a JSON string", "note": None},
]  # fmt: skip


def shape(path: str | None = "items", families: dict[str, str | None] = FAMILIES) -> RecordShape:
    built = RecordShape.build(list(families), families, path)
    assert built is not None
    return built


def body(records: list[dict[str, Any]], **extra: Any) -> bytes:
    return orjson.dumps({"total": {"nested": [1, 2]}, "items": records, "next": None, **extra})


def test_a_fitting_page_reads_back_as_the_general_decoding_gives_it() -> None:
    decoded = shape().decode(body(RECORDS))
    assert isinstance(decoded, TypedRecords) and decoded.complete  # every record has every field
    assert len(decoded) == 3
    assert list(decoded) == RECORDS
    assert decoded[1] == RECORDS[1] and isinstance(decoded[1]["x"], int)  # an int stays an int
    assert list(decoded[1:]) == RECORDS[1:]


def test_records_may_lack_fields_as_in_the_general_decoding() -> None:
    lacking = [{k: v for k, v in RECORDS[0].items() if k not in ("s", "note")}, RECORDS[1]]
    decoded = shape().decode(body(lacking))
    assert decoded is not None and list(decoded) == lacking and not decoded.complete
    columns = decoded.columns()
    assert columns["s"] == [None, ""]
    assert "note" in columns  # RECORDS[1] has it (null)
    only_first = shape().decode(body(lacking[:1]))
    assert only_first is not None
    assert "s" not in only_first.columns() and "s" not in only_first.observed()  # no record has it
    assert only_first.column("s") == [None]


def test_columns_hold_scalars_as_values_and_json_as_binary_jsonb() -> None:
    decoded = shape().decode(body(RECORDS))
    assert decoded is not None
    columns = decoded.columns()
    assert list(columns) == list(FAMILIES)
    assert columns["n"] == [2**63 - 1, -3, None]
    assert columns["x"] == [1.25, 3, None]
    assert isinstance(columns["tags"], JsonbValues)
    assert columns["tags"] == [b'\x01["a",1,null]', b"\x01[]", None]  # a JSON null is SQL NULL
    assert columns["meta"] == [b'\x01{"k":{"n":1}}', b"\x01{}", b'\x01"a JSON string"']


def test_json_values_keep_their_source_text() -> None:
    raw = b'{"items": [{"id": "a", "meta": {"price": 1.50, "big": 12345678901234567890.123}}]}'
    decoded = shape(families={"id": "text", "meta": "json"}).decode(raw)
    assert decoded is not None
    assert decoded.columns()["meta"] == [b'\x01{"price": 1.50, "big": 12345678901234567890.123}']


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},  # a new field
        {"n": 1.5},  # a float where the column is bigint
        {"n": True},  # a boolean is not an integer
        {"x": "1.5"},  # a string in a double precision column
        {"ok": 1},
        {"s": 7},
        {"note": "now a string"},  # a field that had only nulls, and so no column
    ],
)
def test_a_record_that_does_not_fit_refuses_the_whole_page(change: dict[str, Any]) -> None:
    assert shape().decode(body([RECORDS[0], {**RECORDS[1], **change}])) is None


@pytest.mark.parametrize(
    "raw",
    [
        orjson.dumps({"items": [RECORDS[0], 5]}),  # a record that is not an object
        orjson.dumps({"data": [RECORDS[0]]}),  # the records path missing
        orjson.dumps({"items": None}),
        orjson.dumps(RECORDS),  # a list where an object was expected
        b"<html>not JSON</html>",
        b'{"items": [{"id": "\\ud800"}]}',  # a lone surrogate
    ],
)
def test_pages_the_general_decoding_must_judge_are_refused(raw: bytes) -> None:
    assert shape().decode(raw) is None


def test_any_field_name_works_even_ones_like_the_attribute_names() -> None:
    families: dict[str, str | None] = {"f1": "integer", "user-id": "text", "class": "text", "f0": "integer"}
    records = [{"f1": 1, "user-id": "u", "class": "c", "f0": 0}]
    decoded = shape(path=None, families=families).decode(orjson.dumps(records))
    assert decoded is not None and list(decoded) == records
    assert decoded.columns()["f1"] == [1] and decoded.columns()["f0"] == [0]


def test_a_nested_records_path_skips_the_other_keys() -> None:
    raw = orjson.dumps({"data": {"items": RECORDS, "cursor": {"x": 1}}, "meta": [1]})
    decoded = shape(path="data.items").decode(raw)
    assert decoded is not None and list(decoded) == RECORDS


def test_paths_that_index_lists_and_empty_shapes_are_not_typed() -> None:
    assert RecordShape.build(["id"], {"id": "text"}, "pages.0.items") is None
    assert RecordShape.build([], {}, "items") is None


def test_the_latest_record_per_key_matches_the_general_dedupe() -> None:
    records = [
        {**RECORDS[0], "id": "a", "n": 1},
        {**RECORDS[1], "id": "b"},
        {**RECORDS[0], "id": "a", "n": 2},
    ]
    decoded = shape().decode(body(records))
    assert decoded is not None
    latest = decoded.latest_by_key(["id"])
    assert latest is not None and list(latest) == writer.dedupe(records, ["id"])
    both = decoded.latest_by_key(["id", "n"])
    assert both is not None and len(both) == 3
    unique = shape().decode(body(RECORDS))
    assert unique is not None and unique.latest_by_key(["id"]) is unique


def test_null_or_json_keys_go_the_general_way() -> None:
    decoded = shape().decode(body(RECORDS))
    assert decoded is not None
    assert decoded.latest_by_key(["n"]) is None  # a null key: the general path names it
    assert decoded.latest_by_key(["meta"]) is None
    assert decoded.latest_by_key(["missing"]) is None
    assert (
        decoded.has_values(["id"]) and not decoded.has_values(["n"]) and not decoded.has_values(["missing"])
    )


def test_observed_types_are_what_the_columns_accept() -> None:
    decoded = shape().decode(body(RECORDS))
    assert decoded is not None
    observed = decoded.observed()
    assert observed["n"] == {int, type(None)}
    assert observed["x"] == {int, float, type(None)}
    assert observed["note"] == {type(None)}
    assert dict in observed["meta"]


def test_pages_of_one_shape_join_typed_and_others_as_dicts() -> None:
    one = shape()
    first, second = one.decode(body(RECORDS[:1])), one.decode(body(RECORDS[1:]))
    assert first is not None and second is not None
    joined = join_records([first, second])
    assert isinstance(joined, TypedRecords) and list(joined) == RECORDS
    mixed = join_records([first, [{"id": "z"}]])
    assert mixed == [RECORDS[0], {"id": "z"}]
    other = shape().decode(body(RECORDS[1:]))  # an equal shape, but not the same one
    assert other is not None and not isinstance(join_records([first, other]), TypedRecords)
    assert join_records([]) == []


def describe(records: Any) -> tuple[list[str], dict[str, str | None]]:
    fields = list(dict.fromkeys(k for r in records for k in r))
    return fields, {k: FAMILIES.get(k, "integer") for k in fields}


def test_a_slot_types_the_first_page_again_and_the_pages_after_it() -> None:
    slot = ShapeSlot("items")
    assert slot.decode(body(RECORDS)) is None  # no shape yet: the fetch thread decodes the general way
    first = slot.settle(RECORDS, body(RECORDS), describe)
    assert isinstance(first, TypedRecords) and list(first) == RECORDS
    shape = slot.shape
    fetched_before = slot.settle(RECORDS[1:], body(RECORDS[1:]), lambda r: pytest.fail("no new shape"))
    assert isinstance(fetched_before, TypedRecords) and fetched_before.shape is shape
    assert isinstance(slot.decode(body(RECORDS)), TypedRecords)
    assert slot.typed_pages == 3
    assert slot.settle(RECORDS, None, describe) == RECORDS  # no raw body: nothing to decode


def test_a_slot_takes_a_new_shape_after_a_misfit_at_most_max_misses_times() -> None:
    slot = ShapeSlot("items")
    slot.settle(RECORDS, body(RECORDS), describe)
    for extra in range(MAX_MISSES - 1):
        misfit = [{**RECORDS[0], f"extra{extra}": 1}]
        assert slot.decode(body(misfit)) is None and slot.shape is None  # in a fetch thread
        again = slot.settle(misfit, body(misfit), describe)  # the worker: a shape from this page
        assert isinstance(again, TypedRecords) and list(again) == misfit
        assert isinstance(slot.decode(body(RECORDS)), TypedRecords)  # records may lack the new field
    assert slot.misses == MAX_MISSES - 1
    misfit = [{**RECORDS[0], "another": 1}]
    assert slot.decode(body(misfit)) is None and slot.misses == MAX_MISSES
    assert slot.settle(misfit, body(misfit), lambda r: pytest.fail("no more shapes")) == misfit
    assert slot.decode(body(RECORDS)) is None  # the general way from now on


def test_records_that_cannot_be_typed_stop_the_slot_at_once() -> None:
    slot = ShapeSlot("pages.0.items")  # a path that indexes a list
    assert slot.settle(RECORDS, body(RECORDS), describe) == RECORDS
    assert slot.shape is None and slot.misses == MAX_MISSES


@pytest.mark.parametrize("name", ['x"; DROP TABLE y; --', "back\\slash", "tab\there"])
def test_names_msgspec_cannot_match_are_left_to_the_general_decoding(name: str) -> None:
    assert RecordShape.build([name], {name: "text"}, "items") is None
    assert RecordShape.build(["id"], {"id": "text"}, f"data.{name}") is None


def test_a_page_of_other_things_than_objects_sets_no_shape() -> None:
    slot = ShapeSlot("items")
    page: list[Any] = [RECORDS[0], "a string"]
    assert slot.settle(page, orjson.dumps({"items": page}), describe) is page
    assert slot.shape is None and slot.misses == 1
