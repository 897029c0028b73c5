"""Skipped records are sampled as exact JSON, redacted before they are cut."""

from __future__ import annotations

from dailyfetch.partition import BadRecords


def test_a_record_with_an_integer_past_64_bits_is_sampled_exactly() -> None:
    """on_bad_record = 'skip' samples a record holding 2**70 as its JSON text (orjson refuses it)."""
    bad = BadRecords()
    bad.add({"n": 2**70, "s": "x"}, "no value for primary key field(s) id")
    assert bad.count == 1
    assert bad.sample[0]["record"] == '{"n":1180591620717411303424,"s":"x"}'


def test_a_long_record_is_cut_to_500_characters() -> None:
    """A sampled record is at most 500 characters, ending with … when cut."""
    bad = BadRecords()
    bad.add({"s": "y" * 2000}, "reason")
    text = bad.sample[0]["record"]
    assert len(text) <= 500 and text.endswith("…")
