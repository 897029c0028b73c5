"""The declarative REST source: render the request, page through it, pick out the records."""

from __future__ import annotations

from typing import Any

import httpx

from dailyfetch.config import SourceConfig
from dailyfetch.errors import SourceError
from dailyfetch.fetch import pagination
from dailyfetch.fetch.http import RetryPolicy, body_preview, parse_json, send
from dailyfetch.fetch.source import Page, PageIterator, Record
from dailyfetch.plan import render
from dailyfetch.redact import mask_url


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
) -> PageIterator:
    """Yield each page of a REST partition, starting from ``resume`` when given."""
    url, params, headers = render_request(source, variables)
    policy = policy or RetryPolicy(attempts=source.retry_attempts, timeout=source.retry_max_wait)
    config = source.pagination
    state = resume if resume is not None else pagination.first_state(config)
    pages = 0
    while True:
        request = pagination.page_request(config, state, url, params)
        response = send(
            client, source.method, request.url, params=request.params, headers=headers, policy=policy
        )
        body = parse_json(response)
        records = extract_records(body, source.records, response)
        pages += 1
        following = pagination.next_state(config, state, response, body, len(records))
        if source.max_pages is not None and pages >= source.max_pages:
            following = None
        yield Page(records, {"done": True} if following is None else following)
        if following is None:
            return
        state = following


def extract_records(body: Any, path: str | None, response: httpx.Response) -> list[Record]:
    """The list of records at ``path`` in ``body``; an empty body (HTTP 204) is an empty page."""
    if body is None:
        return []
    found = pagination.lookup_path(body, path)
    where = f"records path '{path}'" if path else "response body"
    shown = mask_url(str(response.request.url))
    if pagination.is_missing(found):
        raise SourceError(
            f"{where} not found in the response from {shown}: {body_preview(response)}",
            hint="check [source].records",
        )
    if found is None:
        return []
    if isinstance(found, dict) and not path:
        return [found]
    if not isinstance(found, list):
        raise SourceError(
            f"{where} in the response from {shown} is a {type(found).__name__}, not a list: "
            f"{body_preview(response)}",
            hint="point [source].records at the list of records",
        )
    for index, record in enumerate(found):
        if not isinstance(record, dict):
            raise SourceError(
                f"record {index} at {where} from {shown} is a {type(record).__name__}, not an object"
            )
    return found
