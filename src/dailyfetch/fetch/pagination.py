"""Pagination kinds: how to ask for page N+1 and when to stop.

Each paginator is a pure function of a JSON-serialisable *state*: the state is
what the ledger stores as a partition's progress, committed in the same
transaction as the rows of the pages before it, so a resumed run asks for
exactly the page after the last committed one.

The end of a stream, per kind (docs/configuration.md, "Pagination kinds"):

* ``page_number``, ``offset``: a page whose records are an empty list, or HTTP 204;
* ``cursor`` from the last record: ``has_more`` false (an empty page while it is true is an
  error), or without ``has_more`` an empty list; or HTTP 204;
* ``cursor`` at a path, ``next_url``, ``link_header``: no next cursor, URL or ``rel="next"``
  link. A page with no records that names a next page is passed, not the end.

Nothing else ends a stream. An empty body with 200 is an error for every kind, and ``null``
where the records should be is an error where an empty page is the end (:func:`ends_on_empty`):
both could be the middle of a stream, and ending there would lose the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from dailyfetch.config import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    NoPagination,
    OffsetPagination,
    PageNumberPagination,
)
from dailyfetch.errors import SourceError
from dailyfetch.fetch.links import next_link
from dailyfetch.redact import mask_url

State = dict[str, Any]
PaginationConfig = (
    PageNumberPagination
    | OffsetPagination
    | CursorPagination
    | NextUrlPagination
    | LinkHeaderPagination
    | NoPagination
)


@dataclass(frozen=True)
class PageRequest:
    """The URL and query parameters of one page."""

    url: str
    params: dict[str, Any]


def lookup_path(body: Any, path: str | None) -> Any:
    """Follow a dotted ``path`` (``data.items``; digits index lists) into ``body``."""
    if not path:
        return body
    node = body
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def is_missing(value: Any) -> bool:
    """Whether :func:`lookup_path` found nothing."""
    return value is _MISSING


def ends_on_empty(config: PaginationConfig) -> bool:
    """Whether a page with no records is the end: page numbers, offsets and cursors taken from the
    last record. For these, ``null`` where the list should be is an error, not an empty page."""
    if isinstance(config, CursorPagination):
        return config.from_last_record is not None
    return isinstance(config, PageNumberPagination | OffsetPagination)


def first_state(config: PaginationConfig) -> State:
    """The state of the first page."""
    if isinstance(config, PageNumberPagination):
        return {"page": config.start}
    if isinstance(config, OffsetPagination):
        return {"offset": config.start}
    return {}


def page_request(config: PaginationConfig, state: State, url: str, params: dict[str, Any]) -> PageRequest:
    """The request for the page described by ``state``."""
    if isinstance(config, PageNumberPagination):
        return PageRequest(url, {**params, config.param: state["page"]})
    if isinstance(config, OffsetPagination):
        return PageRequest(url, {**params, config.param: state["offset"], config.limit_param: config.limit})
    if isinstance(config, CursorPagination):
        cursor = state.get("cursor")
        return PageRequest(url, params if cursor is None else {**params, config.param: cursor})
    if isinstance(config, NextUrlPagination | LinkHeaderPagination) and state.get("url"):
        return PageRequest(str(state["url"]), {})
    return PageRequest(url, params)


def next_state(
    config: PaginationConfig,
    state: State,
    response: httpx.Response,
    body: Any,
    record_count: int,
    last_record: dict[str, Any] | None = None,
) -> State | None:
    """The state of the page after this one, or ``None`` when this was the last page."""
    if isinstance(config, PageNumberPagination):
        return None if record_count == 0 else {"page": state["page"] + 1}
    if isinstance(config, OffsetPagination):
        return None if record_count == 0 else {"offset": state["offset"] + record_count}
    if isinstance(config, CursorPagination):
        where = config.path or f"the last record's {config.from_last_record}"
        if config.from_last_record is not None:
            if response.status_code == 204:
                return None
            more = _has_more(config.has_more, response, body) if config.has_more else record_count > 0
            if not more:
                return None
            if record_count == 0:
                raise SourceError(
                    f"{_shown(response)} says {config.has_more} = true but holds no records: "
                    f"there is no last record to take '{config.from_last_record}' from"
                )
            cursor = None if last_record is None else last_record.get(config.from_last_record)
            if cursor is None or cursor == "":
                raise SourceError(
                    f"the last record of {_shown(response)} has no '{config.from_last_record}' "
                    "to continue after, though the stream goes on",
                    hint="check [source.pagination] from_last_record",
                )
        else:
            cursor = lookup_path(body, config.path)
        if is_missing(cursor) or cursor is None or cursor == "":
            return None
        if cursor == state.get("cursor"):
            raise SourceError(f"pagination did not advance: cursor at '{where}' repeated {cursor!r}")
        return {"cursor": cursor}
    if isinstance(config, NextUrlPagination):
        link = lookup_path(body, config.path)
        return _next_url(state, response, None if is_missing(link) else link, config.path)
    if isinstance(config, LinkHeaderPagination):
        return _next_url(state, response, next_link(response), "Link header rel=next")
    return None


def _has_more(path: str, response: httpx.Response, body: Any) -> bool:
    """The boolean at ``path``; anything else there (missing, "false", 0) is an error."""
    more = lookup_path(body, path)
    if not isinstance(more, bool):
        raise SourceError(
            f"has_more path '{path}' in {_shown(response)} is {more!r}, not true or false",
            hint="check [source.pagination] has_more",
        )
    return more


def _shown(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} from {mask_url(str(response.request.url))}"


def _next_url(state: State, response: httpx.Response, link: Any, where: str) -> State | None:
    if link is None or link == "":
        return None
    if not isinstance(link, str):
        raise SourceError(f"pagination: {where} is {type(link).__name__}, expected a URL string")
    absolute = urljoin(str(response.request.url), link)
    if absolute == str(response.request.url) or absolute == state.get("url"):
        raise SourceError(f"pagination did not advance: {where} points at the same page")
    return {"url": absolute}
