"""The page guard's rules, and the page bound's configuration."""

from __future__ import annotations

import json
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
    stamped = body.replace(b'"stamp": 1', b'"stamp": 2')
    typed = shape.decode(stamped)
    assert typed is not None
    guard = PageGuard(PageNumberPagination(kind="page_number"), 100, None, records_path="items")
    guard.check_page({"page": 1}, answer(body), [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}])
    with pytest.raises(SourceError, match="same records as the page before it"):
        guard.check_page({"page": 2}, answer(stamped), typed)


def test_the_stored_digest_covers_the_whole_body_and_old_digests_are_ignored() -> None:
    """previous_page is c32:<length>:<CRC-32> of every byte (the same in any process); a
    digest of an earlier form is no repeat; bodies alike at both ends but not between are new."""
    import zlib

    big = b'{"items": [{"head": "' + b"H" * 5000 + b'", "id": "doc%d", "tail": "' + b"T" * 5000 + b'"}]}'
    guard = PageGuard(PageNumberPagination(kind="page_number"), 100, {"page": 1, PREVIOUS: "10050:1a2b3c4d"})
    digests = [guard.check_page({"page": n}, answer(big % n), [{"id": f"doc{n}"}]) for n in (1, 2, 3)]
    first = big % 1
    assert digests[0] == f"c32:{len(first)}:{zlib.crc32(first):08x}"
    assert len(set(digests)) == 3


def test_with_a_key_a_repeat_is_caught_by_its_records_whatever_page_it_repeats() -> None:
    """With a primary key, pages are compared by their keys first, then by every record: a page that
    repeats page 1, or the page before it, in another order is caught at once; one with the same
    keys and other values (a change feed) is new."""
    config = PageNumberPagination(kind="page_number")

    def page(rows: list[dict[str, object]], nonce: int) -> httpx.Response:
        return answer(json.dumps({"nonce": nonce, "items": rows}).encode())

    a = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    b = [{"id": 3, "v": "c"}, {"id": 4, "v": "d"}]
    changed = [{"id": 3, "v": "C"}, {"id": 4, "v": "D"}]
    for repeat_of, pages in (("page 1", [a, b, a[::-1]]), ("the page before it", [a, b, b[::-1]])):
        guard = PageGuard(config, 100, None, records_path="items", key=["id"])
        for n, rows in enumerate(pages[:-1], start=1):
            guard.check_page({"page": n}, page(rows, n), rows)
        with pytest.raises(SourceError, match=f"same records as {repeat_of}"):
            guard.check_page({"page": 3}, page(pages[-1], 3), pages[-1])
    guard = PageGuard(config, 100, None, records_path="items", key=["id"])
    for n, rows in enumerate([a, b, changed], start=1):
        assert guard.check_page({"page": n}, page(rows, n), rows)


def test_records_repeat_as_a_multiset_of_any_earlier_page_under_any_envelope() -> None:
    """Records in another order, under another request id and next cursor, repeat the page they came
    on first, not only the previous one; the same ids with their values crossed are other records."""
    guard = PageGuard(CursorPagination(kind="cursor", path="next"), 100, None, records_path="items")

    def page(cursor: str, items: list[dict[str, Any]]) -> str | None:
        body = json.dumps({"request_id": cursor, "items": items, "next": cursor + "+"}).encode()
        return guard.check_page({"cursor": cursor}, answer(body), items)

    a, b = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], [{"id": 3, "v": "c"}]
    page("A:1", a)
    page("B:2", b)
    page("C:3", [{"id": 1, "v": "b"}, {"id": 2, "v": "a"}])  # crossed: new
    page("D:4", [*a, a[0]])  # one more copy of a record: another multiset
    with pytest.raises(
        SourceError, match=r"at cursor 'E:5' \(page 5 .* same records as page 1 of this attempt"
    ):
        page("E:5", a[::-1])


def test_pages_of_identical_records_repeat_unless_repeated_pages_allow() -> None:
    """[A] * 8 twice is a repeat naming repeated_pages; [A] * 8 then [A, X, A, X, A, X, A, A] is not;
    with repeated_pages = "allow" nothing is compared but cursors and the page limit."""
    a, x = {"e": "view"}, {"e": "click"}
    config = PageNumberPagination(kind="page_number")
    guard = PageGuard(config, 100, None, records_path="items")
    guard.check_page({"page": 1}, answer(json.dumps({"items": [a] * 8}).encode()), [a] * 8)
    mixed = [a, x, a, x, a, x, a, a]
    guard.check_page({"page": 2}, answer(json.dumps({"items": mixed}).encode()), mixed)
    with pytest.raises(SourceError, match=r'page 1 of this attempt.*repeated_pages = "allow"'):
        guard.check_page({"page": 3}, answer(json.dumps({"items": [a] * 8, "t": 3}).encode()), [a] * 8)
    allowing = PageGuard(config, 100, None, records_path="items", repeated_pages="allow")
    for n in (1, 2, 3):
        assert (
            allowing.check_page({"page": n}, answer(json.dumps({"items": [a] * 8}).encode()), [a] * 8) is None
        )


def test_records_not_a_list_in_the_body_are_compared_by_value_big_integers_too() -> None:
    """A body that is one object (no records path) or holds integers past 64 bits is fingerprinted
    by value: equal records repeat, others do not."""
    guard = PageGuard(PageNumberPagination(kind="page_number"), 100, None)
    one = {"id": 2**70, "v": "a"}
    guard.check_page({"page": 1}, answer(b'{"id": 1180591620717411303424, "v": "a", "t": 1}'), [one])
    guard.check_page({"page": 2}, answer(b'{"id": 1, "v": "a", "t": 2}'), [{"id": 1, "v": "a"}])
    with pytest.raises(SourceError, match="same records as page 1"):
        guard.check_page({"page": 3}, answer(b'{"v": "a", "id": 1180591620717411303424, "t": 3}'), [one])


def test_repeated_pages_takes_fail_or_allow() -> None:
    """[source] repeated_pages is "fail" by default, "allow" on request, and nothing else."""
    base = {"kind": "rest", "url": "https://api.test"}
    assert SourceConfig.model_validate(base).repeated_pages == "fail"
    assert SourceConfig.model_validate({**base, "repeated_pages": "allow"}).repeated_pages == "allow"
    with pytest.raises(ValueError, match="repeated_pages"):
        SourceConfig.model_validate({**base, "repeated_pages": "yes"})
