"""A page's URL and parameters make the URL httpx's own ``copy_merge_params`` makes, on every path."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dailyfetch.fetch.http import merge_params

CASES: list[tuple[str, dict[str, Any] | None]] = [
    ("http://127.0.0.1:8000/offset/2026-11-01/p1", {"offset": 12000, "limit": 1000}),
    ("http://h/x y", {"q": "a b&c=d", "n": None, "t": True, "f": 1.5}),
    ("https://h:8443/p%20q/é", {"c": "ü/?#[]@!$&'()*+,;=", "list": ["a", "b"]}),
    ("http://h/x", {"": "", "k": ""}),
    ("http://user:pw@h/x", {"cursor": "eyJ+/=="}),
    ("http://h", {"a": 1}),
    ("http://h/", {"a": "%41"}),
    ("http://[::1]:80/x", {"z": 0}),
    ("http://h/x?page=1&keep=yes", {"page": 2}),  # the URL's own query: merged, a given key replaced
    ("http://h/x?", {"a": 1}),
    ("http://h/x#frag", {"a": 1}),
    ("http://h/x?a=1", None),
    ("http://h/x", {}),
]


@pytest.mark.parametrize(("url", "params"), CASES)
def test_merge_params_is_httpx_merge(url: str, params: dict[str, Any] | None) -> None:
    """merge_params(url, params) equals httpx.URL(url).copy_merge_params(params), byte for byte."""
    expected = httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)
    got = merge_params(url, params)
    assert got == expected
    assert str(got) == str(expected)
    assert got.raw_path == expected.raw_path
