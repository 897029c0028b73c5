"""Unit tests for pagination kinds and the REST source over an httpx MockTransport."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dailyfetch.config import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    NoPagination,
    OffsetPagination,
    PageNumberPagination,
    SourceConfig,
)
from dailyfetch.errors import SourceError, TransientSourceError
from dailyfetch.fetch.http import retries_for_testing
from dailyfetch.fetch.pagination import (
    PageRequest,
    first_state,
    is_missing,
    lookup_path,
    next_state,
    page_request,
)
from dailyfetch.fetch.rest import extract_records, fetch_rest_pages
from dailyfetch.redact import register_secret

URL = "https://api.test/items"
Handler = Callable[[httpx.Request], httpx.Response]


def response(url: str = URL, *, headers: dict[str, str] | None = None, json: Any = None) -> httpx.Response:
    """A 200 response to a GET of ``url``."""
    return httpx.Response(200, headers=headers, json=json, request=httpx.Request("GET", url))


@pytest.fixture
def instant_retries() -> Iterator[None]:
    """Retries without waiting, up to three attempts."""
    with retries_for_testing(attempts=3):
        yield


def source(**fields: Any) -> SourceConfig:
    """A REST source for URL with ``fields`` set."""
    return SourceConfig.model_validate({"kind": "rest", "url": URL, **fields})


def paging(resume: dict[str, Any]) -> dict[str, Any]:
    """A page's resume state without the digest of the page before it (``previous_page``)."""
    return {k: v for k, v in resume.items() if k != "previous_page"}


def run(src: SourceConfig, handler: Handler, resume: dict[str, Any] | None = None) -> list[Any]:
    """All pages of ``src`` fetched through a mock transport."""
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        return list(fetch_rest_pages(src, client, {"date": "2026-03-01"}, resume))


def test_lookup_path() -> None:
    """Dotted paths walk dicts and index lists (negative too); anything else is missing."""
    body = {"data": {"items": [{"id": 1}, {"id": 2}]}, "n": None}
    assert lookup_path(body, None) is body
    assert lookup_path(body, "") is body
    assert lookup_path(body, "data.items.0.id") == 1
    assert lookup_path(body, "data.items.-1.id") == 2
    assert lookup_path(body, "n") is None
    for path in ("data.nope", "data.items.2", "data.items.x", "n.deeper", "data.items.-3"):
        assert is_missing(lookup_path(body, path)), path


def test_page_number() -> None:
    """page_number sends page=N from start and stops at the first empty page."""
    config = PageNumberPagination(kind="page_number", param="p", start=0)
    state = first_state(config)
    assert state == {"page": 0}
    assert page_request(config, state, URL, {"q": "x"}) == PageRequest(URL, {"q": "x", "p": 0})
    assert next_state(config, state, response(), [], 10) == {"page": 1}
    assert next_state(config, {"page": 1}, response(), [], 0) is None


def test_offset() -> None:
    """offset sends offset and limit, advances by the records received, stops when empty."""
    config = OffsetPagination(kind="offset", limit=50, start=10)
    state = first_state(config)
    assert state == {"offset": 10}
    assert page_request(config, state, URL, {}) == PageRequest(URL, {"offset": 10, "limit": 50})
    assert next_state(config, state, response(), [], 50) == {"offset": 60}
    assert next_state(config, {"offset": 60}, response(), [], 7) == {"offset": 67}
    assert next_state(config, {"offset": 67}, response(), [], 0) is None


def test_cursor() -> None:
    """cursor omits the param on the first page and sends the cursor read from the body after."""
    config = CursorPagination(kind="cursor", param="after", path="meta.next")
    state = first_state(config)
    assert state == {}
    assert page_request(config, state, URL, {"q": 1}) == PageRequest(URL, {"q": 1})
    following = next_state(config, state, response(), {"meta": {"next": "c2"}}, 5)
    assert following == {"cursor": "c2"}
    assert page_request(config, following, URL, {"q": 1}) == PageRequest(URL, {"q": 1, "after": "c2"})


@pytest.mark.parametrize("body", [{}, {"meta": {}}, {"meta": {"next": None}}, {"meta": {"next": ""}}])
def test_cursor_stops(body: Any) -> None:
    """A missing, null or empty cursor ends pagination."""
    config = CursorPagination(kind="cursor", path="meta.next")
    assert next_state(config, {"cursor": "c1"}, response(), body, 5) is None


def test_cursor_zero_is_a_cursor() -> None:
    """A falsy but real cursor such as 0 continues pagination."""
    config = CursorPagination(kind="cursor", path="next")
    assert next_state(config, {}, response(), {"next": 0}, 1) == {"cursor": 0}


def test_repeated_cursor_raises() -> None:
    """A cursor equal to the current one is an error instead of an endless loop."""
    config = CursorPagination(kind="cursor", path="next")
    with pytest.raises(SourceError, match=r"did not advance: cursor at 'next' repeated 'c1'"):
        next_state(config, {"cursor": "c1"}, response(), {"next": "c1"}, 5)


def test_next_url_absolute_and_relative() -> None:
    """next_url follows absolute links and joins relative ones to the request URL."""
    config = NextUrlPagination(kind="next_url", path="links.next")
    current = response(URL + "?page=1")
    absolute = next_state(config, {}, current, {"links": {"next": "https://other.test/p2"}}, 1)
    assert absolute == {"url": "https://other.test/p2"}
    relative = next_state(config, {}, current, {"links": {"next": "/items?page=2"}}, 1)
    assert relative == {"url": "https://api.test/items?page=2"}
    assert page_request(config, relative, URL, {"q": 1}) == PageRequest("https://api.test/items?page=2", {})
    assert page_request(config, {}, URL, {"q": 1}) == PageRequest(URL, {"q": 1})


@pytest.mark.parametrize("body", [{}, {"links": {"next": None}}, {"links": {"next": ""}}])
def test_next_url_stops(body: Any) -> None:
    """A missing, null or empty next URL ends pagination."""
    config = NextUrlPagination(kind="next_url", path="links.next")
    assert next_state(config, {}, response(), body, 1) is None


def test_next_url_same_page_raises() -> None:
    """A next URL that points at the current page is an error."""
    config = NextUrlPagination(kind="next_url", path="next")
    with pytest.raises(SourceError, match="did not advance: next points at the same page"):
        next_state(config, {}, response(URL + "?page=3"), {"next": "?page=3"}, 1)


def test_next_url_not_a_string_raises() -> None:
    """A next URL that is not a string is an error naming the path and the type."""
    config = NextUrlPagination(kind="next_url", path="next")
    with pytest.raises(SourceError, match="next is int, expected a URL string"):
        next_state(config, {}, response(), {"next": 2}, 1)


def test_link_header() -> None:
    """link_header follows rel=next (relative ones joined) and stops without it."""
    config = LinkHeaderPagination(kind="link_header")
    links = '<https://api.test/items?page=1>; rel="prev", </items?page=3>; rel="next"'
    current = response(URL + "?page=2", headers={"Link": links})
    assert next_state(config, {}, current, None, 1) == {"url": "https://api.test/items?page=3"}
    last = response(URL + "?page=3", headers={"Link": '</items?page=2>; rel="prev"'})
    assert next_state(config, {}, last, None, 1) is None
    assert next_state(config, {}, response(), None, 1) is None


def test_link_header_same_page_raises() -> None:
    """A Link rel=next pointing at the current page is an error."""
    config = LinkHeaderPagination(kind="link_header")
    current = response(URL, headers={"Link": f'<{URL}>; rel="next"'})
    with pytest.raises(SourceError, match="Link header rel=next points at the same page"):
        next_state(config, {}, current, None, 1)


def test_none() -> None:
    """none fetches exactly one page with the given params."""
    config = NoPagination()
    assert first_state(config) == {}
    assert page_request(config, {}, URL, {"a": 1}) == PageRequest(URL, {"a": 1})
    assert next_state(config, {}, response(), [{"id": 1}], 1) is None


def test_fetch_page_numbers_with_resume_state_after_each_page() -> None:
    """Each page carries the state that resumes after it; the last one is done."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        page = int(request.url.params["page"])
        items = [{"id": page * 10 + i} for i in range(2)] if page <= 2 else []
        return httpx.Response(200, json={"data": items})

    pages = run(source(records="data", pagination={"kind": "page_number"}, params={"q": "x"}), handler)
    assert [paging(p.resume) for p in pages] == [{"page": 2}, {"page": 3}, {"done": True}]
    assert [len(p.records) for p in pages] == [2, 2, 0]
    assert seen == [f"{URL}?q=x&page={n}" for n in (1, 2, 3)]


def test_fetch_resumes_from_state() -> None:
    """A resume state starts at the page it names."""
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(int(request.url.params["offset"]))
        return httpx.Response(200, json=[] if seen[-1] >= 20 else [{"id": 1}] * 10)

    pages = run(source(pagination={"kind": "offset", "limit": 10}), handler, resume={"offset": 10})
    assert seen == [10, 20]
    assert [paging(p.resume) for p in pages] == [{"offset": 20}, {"done": True}]


def test_fetch_follows_next_url() -> None:
    """next_url pagination requests the URL read from each body."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/items":
            return httpx.Response(200, json={"items": [{"id": 1}], "next": "/items/p2"})
        return httpx.Response(200, json={"items": [{"id": 2}], "next": None})

    pages = run(source(records="items", pagination={"kind": "next_url", "path": "next"}), handler)
    assert [r["id"] for p in pages for r in p.records] == [1, 2]
    assert pages[-1].resume == {"done": True}


def test_max_pages() -> None:
    """max_pages stops after that many pages and marks the partition done."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, json=[{"id": len(calls)}])

    pages = run(source(pagination={"kind": "page_number"}, max_pages=3), handler)
    assert len(calls) == 3
    assert pages[-1].resume == {"done": True}


def test_204_is_an_empty_page() -> None:
    """HTTP 204 No Content is an empty page that ends page-number pagination."""
    pages = run(source(records="data", pagination={"kind": "page_number"}), lambda r: httpx.Response(204))
    assert [(p.records, p.resume) for p in pages] == [([], {"done": True})]


def test_records_path_missing() -> None:
    """A records path absent from the body names the path, the URL and the body."""
    with pytest.raises(SourceError) as info:
        run(source(records="data.items"), lambda r: httpx.Response(200, json={"error": "quota"}))
    message = str(info.value)
    assert "records path 'data.items' not found" in message
    assert URL in message and "quota" in message
    assert "[source].records" in message


def test_records_not_a_list() -> None:
    """A records path that holds something other than a list is an error naming the path."""
    with pytest.raises(SourceError, match=r"records path .data. .* is a str, not a list"):
        run(source(records="data"), lambda r: httpx.Response(200, json={"data": "x"}))


def test_extract_records_shapes() -> None:
    """A null list is empty where allowed, a bare object is one record, 204 is empty, an empty 200 body
    is an error."""
    resp = response(json={})
    assert extract_records({"data": None}, "data", resp) == []
    assert extract_records({"id": 1}, None, resp) == [{"id": 1}]
    assert extract_records([{"id": 1}], None, resp) == [{"id": 1}]
    assert extract_records(None, "data", httpx.Response(204, request=resp.request)) == []
    with pytest.raises(SourceError, match=r"records path 'data' in HTTP 200 from .* is null, not a list"):
        extract_records({"data": None}, "data", resp, null_is_empty=False)
    with pytest.raises(SourceError, match="has an empty body"):
        extract_records(None, "data", httpx.Response(200, request=resp.request))


def test_html_body_with_200() -> None:
    """An HTML page served with 200 names the URL, the status, the content type and the start."""
    html = "<html><body>Maintenance window</body></html>"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=html, headers={"content-type": "text/html; charset=utf-8"})

    with pytest.raises(SourceError) as info:
        run(source(), handler)
    message = str(info.value)
    assert f"HTTP 200 from {URL} is not JSON (text/html)" in message
    assert "<html><body>Maintenance window" in message


def test_query_secret_masked_in_errors() -> None:
    """A secret in an api_key query param never appears in an error message."""
    register_secret("sk-live-123456")
    src = source(params={"api_key": "sk-live-123456", "q": "x"}, records="data")
    for status in (200, 404):
        with pytest.raises(SourceError) as info:
            run(src, lambda r, s=status: httpx.Response(s, json={"nope": 1}))
        assert "sk-live-123456" not in str(info.value)
        assert "api_key=***" in str(info.value)


def test_4xx_is_not_retried(instant_retries: None) -> None:
    """A 404 fails at once, as a permanent error naming the status and URL."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(404, text="no such thing")

    with pytest.raises(SourceError) as info:
        run(source(), handler)
    assert len(calls) == 1
    assert not info.value.transient
    assert str(info.value).startswith(f"HTTP 404 Not Found from {URL}: 'no such thing'")


def test_503_is_retried(instant_retries: None) -> None:
    """A 503 is retried and the request succeeds on a later attempt."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503) if len(calls) < 3 else httpx.Response(200, json=[{"id": 1}])

    pages = run(source(), handler)
    assert len(calls) == 3
    assert pages[0].records == [{"id": 1}]


def test_503_gives_up_as_transient(instant_retries: None) -> None:
    """A 503 that persists fails as a transient error after the attempts run out."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, text="busy")

    with pytest.raises(TransientSourceError, match="HTTP 503"):
        run(source(), handler)
    assert len(calls) == 3


def test_429_waits_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 429 with Retry-After: 7 waits exactly 7 seconds before retrying."""
    slept: list[float] = []
    monkeypatch.setattr("dailyfetch.stopping.StopToken.sleep", lambda self, seconds: slept.append(seconds))
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "7"})
        return httpx.Response(200, json=[{"id": 1}])

    pages = run(source(), handler)
    assert len(calls) == 2
    assert slept == [7.0]
    assert pages[0].records == [{"id": 1}]


def test_429_retried_in_test_mode(instant_retries: None) -> None:
    """A 429 is retried without waiting in test mode."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "3600"})
        return httpx.Response(200, json=[])

    assert run(source(), handler)[0].records == []
    assert len(calls) == 2


def test_retry_after_as_seconds_and_as_an_http_date() -> None:
    """Retry-After is read both as seconds and as an HTTP date; garbage is ignored."""
    from email.utils import format_datetime

    from dailyfetch.fetch.http import retry_after

    request = httpx.Request("GET", URL)
    assert retry_after(httpx.Response(429, headers={"Retry-After": "12"}, request=request)) == 12.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    waited = retry_after(httpx.Response(503, headers={"Retry-After": soon}, request=request))
    assert waited is not None and 25 <= waited <= 31
    assert retry_after(httpx.Response(503, headers={"Retry-After": "soon"}, request=request)) is None
    assert retry_after(httpx.Response(503, request=request)) is None
