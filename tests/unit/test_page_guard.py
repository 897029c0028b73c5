"""The page guard's rules, and the page bound's configuration."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dailyfetch.config import CursorPagination, PageNumberPagination, SourceConfig
from dailyfetch.errors import SourceError
from dailyfetch.fetch.page_guard import PREVIOUS, PageGuard


def answer(body: bytes, url: str = "https://api.test/items") -> httpx.Response:
    return httpx.Response(200, content=body, request=httpx.Request("GET", url))


def test_the_page_bound_is_on_by_default_and_max_pages_stays_below_it() -> None:
    """Every REST source has a page_limit (100000); a max_pages above it is a config error naming both."""
    source = SourceConfig.model_validate({"kind": "rest", "url": "https://api.test"})
    assert source.page_limit == 100_000 and source.max_pages is None
    with pytest.raises(ValueError, match=r"max_pages: 200001 is above page_limit \(100000\)"):
        SourceConfig.model_validate({"kind": "rest", "url": "https://api.test", "max_pages": 200_001})
    raised = {"kind": "rest", "url": "https://api.test", "max_pages": 200_001, "page_limit": 300_000}
    assert SourceConfig.model_validate(raised).max_pages == 200_001


def test_empty_pages_may_repeat_and_records_that_differ_anywhere_sampled_are_new() -> None:
    """``[]`` again and again is no loop; pages that differ at one of the sampled places are new."""
    guard = PageGuard(CursorPagination(kind="cursor", path="next"), 100, None)
    for n in range(5):
        assert guard.check_page({"cursor": str(n)}, answer(b'{"items": [], "next": "x"}'), []) is None
    page = [{"id": i} for i in range(8)]
    guard.check_page({"cursor": "a"}, answer(b"1"), page)
    guard.check_page({"cursor": "b"}, answer(b"2"), [*page[:4], {"id": -1}, *page[5:]])  # differs at 8 // 2
    with pytest.raises(SourceError, match=r"at cursor 'c' \(page 8 of this attempt\) has the same records"):
        guard.check_page({"cursor": "c"}, answer(b"3"), [*page[:4], {"id": -1}, *page[5:]])


def test_a_resumed_attempt_compares_its_first_page_with_the_last_committed_one() -> None:
    """The digest a page leaves in the progress makes the next attempt's identical first page a loop."""
    body = b'{"items": [{"id": 1}]}'
    first = PageGuard(PageNumberPagination(kind="page_number"), 100, None)
    digest = first.check_page({"page": 1}, answer(body), [{"id": 1}])
    again = PageGuard(PageNumberPagination(kind="page_number"), 100, {"page": 2, PREVIOUS: digest})
    with pytest.raises(SourceError, match=r"page=2 .* last page committed before this attempt"):
        again.check_page({"page": 2}, answer(body), [{"id": 1}])
    fresh = PageGuard(PageNumberPagination(kind="page_number"), 100, {"page": 2, PREVIOUS: digest})
    assert fresh.check_page({"page": 2}, answer(b'{"items": [{"id": 2}]}'), [{"id": 2}]) is not None


def test_the_limit_is_an_error_only_when_another_page_is_named() -> None:
    """At page_limit pages, naming a next page is an error that names the key; the last page is new."""
    guard = PageGuard(PageNumberPagination(kind="page_number"), 2, None)
    pages: list[Any] = []
    for n in (1, 2):
        guard.check_page({"page": n}, answer(str(n).encode()), [{"id": n}])
        pages.append(guard.check_next({"page": n}, {"page": n + 1}))
    assert pages[0] is None
    assert "[source] page_limit = 2 was reached" in str(pages[1]) and "page=3" in str(pages[1])


def test_typed_rows_repeat_as_the_dicts_they_decode_to() -> None:
    """A page decoded typed whose records equal the previous (general, dict) page's is a repeat."""
    from dailyfetch.fetch.shape import RecordShape

    body = b'{"items": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], "stamp": 1}'
    shape = RecordShape.build(["id", "v"], {"id": "integer", "v": "text"}, "items")
    assert shape is not None
    typed = shape.decode(body.replace(b'"stamp": 1', b'"stamp": 2'))
    assert typed is not None
    guard = PageGuard(PageNumberPagination(kind="page_number"), 100, None)
    guard.check_page({"page": 1}, answer(body), [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
    with pytest.raises(SourceError, match="same records as the page before it"):
        guard.check_page({"page": 2}, answer(b"stamped differently"), typed)
