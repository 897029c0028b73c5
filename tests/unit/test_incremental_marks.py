"""Incremental marks keep the API's text, take one type, and refuse values that would poison them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dailyfetch.config import IncrementalConfig
from dailyfetch.cursor_text import shift_number, shift_timestamp
from dailyfetch.errors import ConfigError, LoadError, SourceError
from dailyfetch.incremental import Mark, batch_mark, horizon, later, mark_text, since_for

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LATEST = horizon(now=NOW)


def inc(initial: str = "2025-01-01T00:00:00.000Z", lookback: str | None = None) -> IncrementalConfig:
    """An ``[source.incremental]`` on field ``updated_at``."""
    return IncrementalConfig(cursor="updated_at", initial=initial, lookback=lookback)


def key(index: int) -> str:
    """How the tests name record ``index``: as partition.py does for key ``id``."""
    return f"id={index + 1}"


@pytest.mark.parametrize(
    "values",
    [
        ["2025-03-01T12:00:00.000Z", "2025-03-01T11:00:00.000Z"],
        ["2025-03-01T11:59:29.281Z", None, "2025-03-01T12:00:00.000Z"],
        ["2025-03-01 12:00:00", "2025-03-01 09:00:00"],
        ["2025-03-01T13:00:00.000+01:00", "2025-03-01T11:00:00Z"],
    ],
)
def test_the_batch_mark_is_the_largest_value_in_the_apis_own_text(values: list[str | None]) -> None:
    """The mark of a batch is its latest instant, kept as the text the API sent (no re-serialisation)."""
    mark = batch_mark(values, inc(), latest=LATEST, key_of=key)
    assert mark is not None
    assert mark.text in values
    assert mark.value == datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_naive_beside_aware_and_lowercase_and_padded_values_take_the_careful_path() -> None:
    """Naive timestamps are UTC beside aware ones; ``t``/``z`` and surrounding spaces still parse, text kept."""
    values = ["2025-03-01 12:00:00", "2025-03-01t12:30:00z", " 2025-03-01T12:15:00Z "]
    mark = batch_mark(values, inc(), latest=LATEST, key_of=key)
    assert mark == Mark("2025-03-01t12:30:00z", datetime(2025, 3, 1, 12, 30, tzinfo=UTC))


def test_numbers_and_numeric_strings_are_one_type_and_keep_their_text() -> None:
    """A numeric cursor takes JSON numbers and numeric strings, compared as numbers, sent back as written."""
    config = inc(initial="0")
    assert batch_mark([3, 10, 7.5, None], config, latest=LATEST, key_of=key) == Mark("10", 10)
    assert batch_mark(["9", "10.50", 2], config, latest=LATEST, key_of=key) == Mark("10.50", Decimal("10.50"))
    big = 2**70
    assert batch_mark([big, big - 1], config, latest=LATEST, key_of=key) == Mark(str(big), big)


def test_text_cursors_compare_as_text() -> None:
    """A cursor whose initial is text compares every value as text."""
    mark = batch_mark(["b2", "c1", "a9"], inc(initial="a0"), latest=LATEST, key_of=key)
    assert mark == Mark("c1", "c1")


def test_nulls_and_missing_values_are_ignored() -> None:
    """A batch of nulls has no mark (and is no error)."""
    assert batch_mark([None, None], inc(), latest=LATEST, key_of=key) is None
    assert batch_mark([], inc(), latest=LATEST, key_of=key) is None


@pytest.mark.parametrize(
    ("values", "initial", "named"),
    [
        (
            ["2025-03-01T12:00:00Z", "N/A"],
            "2025-01-01T00:00:00Z",
            "id=2: cursor field 'updated_at' is text 'N/A'",
        ),
        (["N/A", "2025-03-01T12:00:00Z"], "2025-01-01T00:00:00Z", "id=1: cursor field 'updated_at' is text"),
        ([None, 1740830400], "2025-01-01T00:00:00Z", "id=2: cursor field 'updated_at' is a number"),
        (
            ["2025-03-01T12:00:00Z", True],
            "2025-01-01T00:00:00Z",
            "id=2: cursor field 'updated_at' is a boolean",
        ),
        ([5, "2025-03-01T12:00:00Z"], "0", "id=2: cursor field 'updated_at' is a timestamp"),
        ([5, True], "0", "id=2: cursor field 'updated_at' is a boolean"),
        ([5, {"at": 1}], "0", "id=2: cursor field 'updated_at' is a JSON object"),
        (["a", 5], "a0", "id=2: cursor field 'updated_at' is a number"),
    ],
)
def test_a_value_of_another_type_than_initial_fails_naming_the_record(
    values: list[object], initial: str, named: str
) -> None:
    """A cursor value of another type than ``initial`` is a SourceError naming the record and the field."""
    with pytest.raises(SourceError, match=re.escape(named)) as caught:
        batch_mark(values, inc(initial=initial), latest=LATEST, key_of=key)
    assert not caught.value.transient
    assert "\n" not in str(caught.value)


def test_a_timestamp_far_past_now_fails_naming_the_record() -> None:
    """A timestamp more than a day past now/window end fails naming the record; within the tolerance it is a mark."""
    poison = ["2025-03-01T12:00:00Z", "9999-12-31T00:00:00Z"]
    with pytest.raises(
        SourceError, match=r"record id=2: cursor field 'updated_at' = '9999-12-31T00:00:00Z' is more"
    ):
        batch_mark(poison, inc(), latest=LATEST, key_of=key)
    skewed = (NOW + timedelta(hours=23)).isoformat()
    assert batch_mark([skewed], inc(), latest=LATEST, key_of=key) == Mark(skewed, NOW + timedelta(hours=23))
    with pytest.raises(SourceError, match="id=1"):
        batch_mark([(NOW + timedelta(hours=25)).isoformat()], inc(), latest=LATEST, key_of=key)


def test_a_tie_keeps_the_first_text() -> None:
    """Two spellings of one instant: the mark already held keeps its text."""
    first, second = Mark("2025-03-01T12:00:00.000Z", NOW), Mark("2025-03-01T12:00:00Z", NOW)
    assert later(first, second) is first


def test_since_is_initial_as_written_then_the_mark_as_stored() -> None:
    """With no mark the run asks for ``initial`` exactly as configured; then for the stored text, byte for byte."""
    assert since_for(inc(initial="2025-01-01 00:00:00"), None) == "2025-01-01 00:00:00"
    assert since_for(inc(), "2025-03-01T12:00:00.000Z", latest=LATEST) == "2025-03-01T12:00:00.000Z"
    assert since_for(inc(), "2025-03-01T11:59:29.281Z", latest=LATEST) == "2025-03-01T11:59:29.281Z"


@pytest.mark.parametrize(
    ("mark", "lookback", "since"),
    [
        ("2025-03-01T12:00:00.000Z", "1s", "2025-03-01T11:59:59.000Z"),
        ("2025-03-01T11:59:29.281Z", "0.5s", "2025-03-01T11:59:28.781Z"),
        ("2025-03-01T12:00:00.5Z", "0.25s", "2025-03-01T12:00:00.2Z"),  # rounded down: refetch, never skip
        ("2025-03-01T12:00:00+00:00", "2h", "2025-03-01T10:00:00+00:00"),
        ("2025-03-01T12:00:00+0530", "13h", "2025-02-28T23:00:00+0530"),
        ("2025-03-01 12:00:00", "1m", "2025-03-01 11:59:00"),
        ("2025-03-01t12:00:00z", "1h", "2025-03-01t11:00:00z"),
        ("2025-03-01T12:00Z", "30s", "2025-03-01T11:59Z"),
        ("2025-03-01", "2h", "2025-02-28"),
        ("2025-03-01T12:00:00.1234567Z", "1s", "2025-03-01T11:59:59.1234560Z"),
        ("2025-03-01T12:00:00,250Z", "1s", "2025-03-01T11:59:59,250Z"),
        ("20250301T120000Z", "1h", "2025-03-01T11:00:00Z"),  # basic format: extended ISO 8601, UTC
    ],
)
def test_lookback_is_spelled_like_the_mark(mark: str, lookback: str, since: str) -> None:
    """``mark - lookback`` keeps the mark's separator, fields, fraction digits and zone."""
    assert since_for(inc(lookback=lookback), mark, latest=LATEST) == since


@pytest.mark.parametrize(
    ("mark", "lookback", "since"),
    [("100", "5", "95"), ("1.50", "0.5", "1.00"), ("100", "0.5", "99.5"), (str(10**30), "1", "9" * 30)],
)
def test_numeric_lookback_keeps_decimal_places(mark: str, lookback: str, since: str) -> None:
    """A numeric mark minus lookback is exact decimal arithmetic in the mark's places."""
    assert since_for(inc(initial="0", lookback=lookback), mark) == since


def test_since_never_goes_before_initial() -> None:
    """``mark - lookback`` before ``initial`` asks for ``initial``, as written."""
    config = inc(initial="2025-03-01T11:30:00.000Z", lookback="2h")
    assert since_for(config, "2025-03-01T12:00:00.000Z", latest=LATEST) == "2025-03-01T11:30:00.000Z"
    assert since_for(inc(initial="50", lookback="100"), "100") == "50"


def test_a_duration_lookback_for_a_numeric_cursor_is_a_config_error() -> None:
    """``lookback = "2h"`` on a numeric cursor names the key instead of crashing."""
    with pytest.raises(ConfigError, match=r"source\.incremental\.lookback"):
        since_for(inc(initial="0", lookback="2h"), "100")


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ("N/A", "is text, not a timestamp"),
        ("9999-12-31T00:00:00Z", "more than 1 day in the future"),
        ("17", "number"),
    ],
)
def test_a_poisoned_stored_mark_fails_naming_the_reset_command(stored: str, problem: str) -> None:
    """A stored mark of another type or far in the future is a LoadError naming it and `dailyfetch state reset`."""
    with pytest.raises(LoadError) as caught:
        since_for(inc(), stored, partition="region=eu", latest=LATEST)
    text = str(caught.value)
    assert repr(stored) in text and problem in text
    assert "dailyfetch state reset --partition 'region=eu'" in text


def test_marks_written_by_earlier_versions_read_back() -> None:
    """A mark stored in dailyfetch's old spelling is still a valid mark (ledgers upgrade in place)."""
    assert since_for(inc(), "2025-03-01T12:00:00Z", latest=LATEST) == "2025-03-01T12:00:00Z"
    assert since_for(inc(), "2025-03-01T11:59:29.281000Z", latest=LATEST) == "2025-03-01T11:59:29.281000Z"
    assert since_for(inc(initial="0"), "1.5") == "1.5"


def test_a_mark_set_by_hand_is_kept_as_written_and_checked() -> None:
    """`dailyfetch state set` keeps the value's text and refuses one of another type or far in the future."""
    assert mark_text(inc(), " 2025-03-01T12:00:00.000Z ") == "2025-03-01T12:00:00.000Z"
    with pytest.raises(ConfigError, match="is text, not a timestamp"):
        mark_text(inc(), "N/A")
    with pytest.raises(ConfigError, match="future"):
        mark_text(inc(), "9999-01-01T00:00:00Z")


_STYLES = st.sampled_from(
    [("T", ".%f", "Z"), (" ", "", ""), ("T", "", "+00:00"), ("T", ".%f", "-0700"), ("T", "", "+05:30")]
)


@given(
    instant=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    style=_STYLES,
    digits=st.integers(1, 9),
    seconds=st.floats(0, 10**7, allow_nan=False),
)
def test_lookback_rounds_down_to_the_marks_precision_in_its_style(
    instant: datetime, style: tuple[str, str, str], digits: int, seconds: float
) -> None:
    """For any mark and lookback, the result has the mark's shape and lies in (exact - 1 unit, exact]."""
    sep, frac, zone = style
    tz = UTC if zone in ("Z", "") else datetime.strptime(zone, "%z").tzinfo
    local = instant.astimezone(tz)
    text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    unit = timedelta(seconds=1)
    if frac:
        text += "." + f"{local.microsecond:06d}{'0' * 3}"[:digits]
        unit = timedelta(microseconds=10 ** max(0, 6 - digits))
    text += zone
    mark = datetime.fromisoformat(text)
    mark = mark if mark.tzinfo else mark.replace(tzinfo=UTC)
    out = shift_timestamp(text, mark, seconds)
    shape = re.sub(r"\d", "0", text)
    assert re.sub(r"\d", "0", out) == shape
    got = datetime.fromisoformat(out)
    got = got if got.tzinfo else got.replace(tzinfo=UTC)
    exact = mark - timedelta(seconds=seconds)
    assert exact - unit < got <= exact


def test_shift_number_refuses_what_is_not_a_number() -> None:
    """A non-numeric lookback for a number is a ValueError (turned into a ConfigError by since_for)."""
    with pytest.raises(ValueError):
        shift_number("100", "2h")
    assert shift_timestamp("2025-03-01T12:00:00Z", datetime(2025, 3, 1, 12, tzinfo=UTC), 0) == (
        "2025-03-01T12:00:00Z"
    )


def test_python_sources_may_yield_datetimes() -> None:
    """Aware or naive ``datetime`` values from a Python source are timestamps, sent back as ISO 8601."""
    values = [datetime(2025, 3, 1, 12, tzinfo=UTC), datetime(2025, 3, 1, 13), None]
    assert batch_mark(values, inc(), latest=LATEST, key_of=key) == Mark(
        "2025-03-01T13:00:00", datetime(2025, 3, 1, 13, tzinfo=UTC)
    )
