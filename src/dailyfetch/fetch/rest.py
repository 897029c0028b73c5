"""The declarative REST source: render the request, page through it, pick out the records.

With ``[source] concurrency > 1`` and page-number or offset pagination, the
pages ahead are fetched in parallel (their URLs are known in advance) and still
yielded strictly in order, so progress and exactly-once are unchanged
(:mod:`.ahead`). Every page, ahead or one by one, is reckoned against the run's
byte budget (:mod:`.budget`) and checked for repeats and the page limit
(:mod:`.page_guard`) before the page after it is requested.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from dailyfetch.config import (
    CursorPagination,
    LinkHeaderPagination,
    NoPagination,
    OffsetPagination,
    PageNumberPagination,
    SourceConfig,
)
from dailyfetch.errors import SourceError
from dailyfetch.fetch import pagination
from dailyfetch.fetch.ahead import Fetched, fetch_ahead, fetch_reckoned
from dailyfetch.fetch.control import FetchControl
from dailyfetch.fetch.http import RetryPolicy, body_preview, parse_json, send
from dailyfetch.fetch.page_guard import PREVIOUS, PageGuard
from dailyfetch.fetch.shape import ShapeSlot, TypedRecords
from dailyfetch.fetch.source import Page, PageIterator, Record
from dailyfetch.plan import render
from dailyfetch.redact import mask_url


def typed_decoding_applies(source: SourceConfig) -> bool:
    """Whether pages may be decoded typed (:mod:`.shape`): REST pagination that never reads the body."""
    return isinstance(
        source.pagination, PageNumberPagination | OffsetPagination | LinkHeaderPagination | NoPagination
    )


def render_request(
    source: SourceConfig, variables: dict[str, Any]
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The first request's URL, query parameters and headers with run variables filled in."""
    url = render(source.url or "", variables)
    params = {k: render(v, variables) if isinstance(v, str) else _param(v) for k, v in source.params.items()}
    headers = {k: render(v, variables) for k, v in source.headers.items()}
    return url, params, headers


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def fetch_rest_pages(
    source: SourceConfig,
    client: httpx.Client,
    variables: dict[str, Any],
    resume: dict[str, Any] | None,
    *,
    policy: RetryPolicy | None = None,
    control: FetchControl | None = None,
    extra_params: dict[str, Any] | None = None,
    window: int | None = None,
    shape: ShapeSlot | None = None,
    key: Sequence[str] = (),
) -> PageIterator:
    """Yield each page of a REST partition, starting from ``resume`` when given.

    ``window`` is how many pages may be fetched ahead (default: ``[source] concurrency``).
    ``shape``: decode pages with the shape it holds, when it holds one and they fit
    (ignored where :func:`typed_decoding_applies` is false). ``key``: the destination's primary key
    fields, by which the loop guard compares pages first (:mod:`.page_guard`).
    """
    url, params, headers = render_request(source, variables)
    params.update(extra_params or {})
    policy = policy or RetryPolicy(attempts=source.retry_attempts, timeout=source.retry_max_wait)
    control = control or FetchControl()
    config = source.pagination
    state = resume if resume is not None else pagination.first_state(config)
    slot = shape if typed_decoding_applies(source) else None
    null_is_empty = not pagination.ends_on_empty(config)
    guard = PageGuard(
        config,
        source.page_limit,
        resume,
        records_path=source.records,
        repeated_pages=source.repeated_pages,
        key=key,
    )

    def fetch(page_state: dict[str, Any]) -> Fetched:
        request = pagination.page_request(config, page_state, url, params)
        response = send(
            client,
            source.method,
            request.url,
            params=request.params,
            headers=headers,
            policy=policy,
            control=control,
        )
        if slot is not None and response.content:
            typed = slot.decode(response.content)
            if typed is not None:
                guard.measure(response, typed)  # fingerprinted here, in the fetching thread
                return response, None, typed
        body = parse_json(response)
        records = extract_records(body, source.records, response, null_is_empty=null_is_empty)
        guard.measure(response, records)
        return response, body, records

    by_last = isinstance(config, CursorPagination) and config.from_last_record is not None

    def judge(
        page_state: dict[str, Any], fetched: Fetched
    ) -> tuple[Page, dict[str, Any] | None, Exception | None]:
        """The page to yield for ``fetched``, the state of the one after it (``None``: the end), and
        the error to raise instead of requesting that one."""
        response, body, records = fetched
        digest = guard.check_page(page_state, response, records)
        last = _last(records) if by_last else None  # built on demand from a typed page
        following = pagination.next_state(config, page_state, response, body, len(records), last)
        if source.max_pages is not None and guard.count >= source.max_pages:
            following = None  # the user's cap: the partition ends here, as documented
        listed = isinstance(records, TypedRecords) or _is_list_at(body, source.records)
        raw = response.content if records and listed else None
        if following is None:
            return Page(records, {"done": True}, raw), None, None
        resume = following if digest is None else {**following, PREVIOUS: digest}
        return Page(records, resume, raw), following, guard.check_next(page_state, following)

    ahead = source.concurrency if window is None else window
    budget, stop = control.budget, control.stop
    if ahead > 1 and isinstance(config, PageNumberPagination | OffsetPagination):
        for page_state, fetched in fetch_ahead(fetch, config, state, ahead, budget, stop):
            page, following, error = judge(page_state, fetched)
            yield page
            if error is not None:
                raise error
            if following is None:
                return
    else:  # one by one: the next page is requested only after this one was judged and consumed
        while True:
            fetched, ticket = fetch_reckoned(fetch, budget, stop, state)
            try:
                page, following, error = judge(state, fetched)
                yield page
            finally:
                budget.release(ticket)
            if error is not None:
                raise error
            if following is None:
                return
            state = following


def _is_list_at(body: Any, path: str | None) -> bool:
    return isinstance(pagination.lookup_path(body, path), list)


def _last(records: Sequence[Record]) -> dict[str, Any] | None:
    last = records[-1] if records else None
    return last if isinstance(last, dict) else None


def extract_records(
    body: Any, path: str | None, response: httpx.Response, *, null_is_empty: bool = True
) -> list[Record]:
    """The list of records at ``path`` in ``body``.

    HTTP 204 is an empty page. An empty body with any other status is never a page (a cut or
    lost answer looks the same), nor is a records path that is missing or not a list. ``null``
    at the path is an empty page where ``null_is_empty`` (kinds that an empty page cannot end:
    see :func:`~dailyfetch.fetch.pagination.ends_on_empty`), and an error elsewhere.
    """
    if response.status_code == 204:
        return []
    shown = f"HTTP {response.status_code} from {mask_url(str(response.request.url))}"
    if not response.content:
        raise SourceError(
            f"{shown} has an empty body, not a page of records (an API with no more records "
            "answers an empty list, or HTTP 204)",
            hint="the pages before it are kept; a rerun resumes at this page",
        )
    found = pagination.lookup_path(body, path)
    where = f"records path '{path}'" if path else "response body"
    if pagination.is_missing(found):
        raise SourceError(
            f"{where} not found in {shown}: {body_preview(response)}",
            hint="check [source].records",
        )
    if found is None:
        if null_is_empty:
            return []
        raise SourceError(
            f"{where} in {shown} is null, not a list: this paging ends only at an empty list "
            f"([]) or HTTP 204, so a null page could be the middle of the stream: {body_preview(response)}",
            hint="the pages before it are kept; a rerun resumes at this page",
        )
    if isinstance(found, dict) and not path:
        return [found]
    if not isinstance(found, list):
        raise SourceError(
            f"{where} in {shown} is a {type(found).__name__}, not a list: {body_preview(response)}",
            hint="point [source].records at the list of records",
        )
    return found
