"""Whether a double column holds a batch's integers exactly: the same answer on the fast path as value by value."""

from __future__ import annotations

from typing import Any

import pytest

from dailyfetch.load.columns import _DOUBLE_EXACT, _exact_in_double

BEYOND = _DOUBLE_EXACT + 1


@pytest.mark.parametrize(
    ("values", "exact"),
    [
        ([0.5, None, 1e300, -1e300], True),  # floats only, however large: nothing to round
        ([True, False, None, 2.5], True),  # booleans are no integers here
        ([1, 2.5, -(2**53), None], True),
        ([0.5, BEYOND], False),
        ([None, -BEYOND, 1.0], False),
        ([float(BEYOND), 3], True),  # the float is already a double
        ([], True),
        ([None, None], True),
    ],
)
def test_exact_in_double(values: list[Any], exact: bool) -> None:
    """Only an integer past 2**53 in magnitude makes a batch inexact in a double precision column."""
    assert _exact_in_double(values, _DOUBLE_EXACT) is exact
