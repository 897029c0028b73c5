"""Durations in the config (`timeout`, `lookback`, ...): every unit the docs name parses."""

from __future__ import annotations

import pytest

from dailyfetch.stopping import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("45m", 2700.0), ("1h30m", 5400.0), ("2d", 172800.0), ("250ms", 0.25),
     ("1m500ms", 60.5), ("1.5s", 1.5), ("30", 30.0), (" 2 h ", 7200.0)],
)  # fmt: skip
def test_each_unit_parses(text: str, seconds: float) -> None:
    """Each unit (d, h, m, s, ms) and a bare number of seconds parse to seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "m", "10x", "5 minutes", "1h-2m", "ms"])
def test_anything_else_is_refused(text: str) -> None:
    """A text that is not a duration is a ValueError naming it."""
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)
