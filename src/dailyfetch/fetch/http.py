"""The HTTP client, its retries, and HTTP failures mapped into dailyfetch errors.

One :class:`httpx.Client` per run is created by :func:`build_client` and passed
down, so tests can hand in their own transport. :func:`send` performs one
logical request: it retries connection errors, timeouts, 408, 429 and 5xx with
exponential backoff and jitter (via ``stamina``), honours ``Retry-After``, and
never retries any other 4xx. A host whose name does not resolve fails at once:
that is an offline machine or a typo, not a blip.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import stamina

from dailyfetch import __version__
from dailyfetch.errors import SourceError, TransientSourceError
from dailyfetch.redact import mask_url, redact

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_BODY_PREVIEW = 120


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry one request: attempts and the total time spent waiting."""

    attempts: int = 8
    timeout: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 30.0


def build_client(*, connect_timeout: float, read_timeout: float) -> httpx.Client:
    """A client with separate connect and read timeouts and connection reuse."""
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    return httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        headers={"User-Agent": f"dailyfetch/{__version__}", "Accept": "application/json"},
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
    )


def merge_params(url: str, params: dict[str, Any] | None) -> httpx.URL:
    """``url`` with ``params`` added to (not replacing) the query it already has."""
    merged = httpx.URL(url)
    if params:
        merged = merged.copy_merge_params(params)
    return merged


def describe_request(url: str, params: dict[str, Any] | None = None) -> str:
    """The request's URL with its query, masked for display."""
    return mask_url(str(merge_params(url, params)))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _RetryableResponse(TransientSourceError):
    def __init__(self, message: str, wait: float | None) -> None:
        super().__init__(message)
        self.wait = wait


def _backoff_hook(exc: Exception) -> bool | float:
    if isinstance(exc, _RetryableResponse) and exc.wait is not None:
        return exc.wait
    return isinstance(exc, TransientSourceError)


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    policy: RetryPolicy | None = None,
) -> httpx.Response:
    """Send one request with retries; return a 2xx response or raise a :class:`SourceError`."""
    policy = policy or RetryPolicy()
    for attempt in stamina.retry_context(
        on=_backoff_hook,
        attempts=policy.attempts,
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
    ):
        with attempt:
            return _send_once(client, method, url, params=params, headers=headers)
    raise AssertionError("unreachable")  # pragma: no cover


def _send_once(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    params: dict[str, Any] | None,
    headers: dict[str, str] | None,
) -> httpx.Response:
    try:
        response = client.request(method, merge_params(url, params), headers=headers)
    except httpx.ConnectError as exc:
        shown = describe_request(url, params)
        host = httpx.URL(url).host
        text = str(exc)
        if (
            "Name or service not known" in text
            or "nodename nor servname" in text
            or ("Temporary failure in name resolution" in text)
        ):
            raise SourceError(
                f"cannot reach host {host}: the name does not resolve (offline?) [{shown}]"
            ) from None
        raise TransientSourceError(f"cannot connect to {host}: {redact(text)} [{shown}]") from None
    except httpx.TimeoutException as exc:
        kind = type(exc).__name__
        raise TransientSourceError(f"{kind} after waiting on {describe_request(url, params)}") from None
    except httpx.TransportError as exc:
        raise TransientSourceError(
            f"connection failed ({type(exc).__name__}: {redact(str(exc))}) on {describe_request(url, params)}"
        ) from None
    status = response.status_code
    if status < 400:
        return response
    shown = mask_url(str(response.request.url))
    message = f"HTTP {status} {response.reason_phrase} from {shown}: {body_preview(response)}"
    if status in RETRYABLE_STATUS:
        raise _RetryableResponse(message, _retry_after(response))
    raise SourceError(message)


def body_preview(response: httpx.Response) -> str:
    """The first bytes of the body, on one line and redacted."""
    text = response.content[:_BODY_PREVIEW].decode("utf-8", "replace")
    text = " ".join(text.split())
    if len(response.content) > _BODY_PREVIEW:
        text += "…"
    return redact(repr(text))


def parse_json(response: httpx.Response) -> Any:
    """The response body as JSON; a non-JSON body (an HTML error page, say) is a clear error."""
    if response.status_code == 204 or not response.content:
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        kind = response.headers.get("content-type", "unknown content type").split(";")[0]
        raise SourceError(
            f"HTTP {response.status_code} from {mask_url(str(response.request.url))} is not JSON "
            f"({kind}): {body_preview(response)}"
        ) from None
