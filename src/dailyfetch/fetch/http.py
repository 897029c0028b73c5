"""The HTTP client, its retries, and HTTP failures mapped into dailyfetch errors.

One :class:`httpx.Client` per run is created by :func:`build_client` and passed
down, so tests can hand in their own transport. :func:`send` performs one
logical request: it retries connection errors, timeouts, 408, 429 and 5xx with
exponential backoff and jitter (via ``tenacity``), honours ``Retry-After``, and
never retries any other 4xx. :func:`retries_for_testing` makes retries instant. A host whose name does not resolve fails at once:
that is an offline machine or a typo, not a blip.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_before_delay
from tenacity.wait import wait_random_exponential

from dailyfetch import __version__, jsontext
from dailyfetch.errors import SourceError, TransientSourceError
from dailyfetch.fetch.client import DailyfetchClient, IncompleteBody, RequestTimeout
from dailyfetch.fetch.control import FetchControl
from dailyfetch.fetch.origin import OriginPolicy
from dailyfetch.redact import (
    clip,
    mask_url,
    redact,
    redact_head,
    register_issued_params,
    register_issued_secrets,
)
from dailyfetch.stopping import StopToken

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_BODY_PREVIEW = 120


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry one request: attempts and the total time spent waiting."""

    attempts: int = 8
    timeout: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 30.0


_testing: RetryPolicy | None = None


@contextmanager
def retries_for_testing(attempts: int = 3) -> Iterator[None]:
    """Test mode: retry at most ``attempts`` times, with no waiting at all."""
    global _testing
    previous, _testing = (
        _testing,
        RetryPolicy(attempts=attempts, timeout=3600.0, wait_initial=0.0, wait_max=0.0),
    )
    try:
        yield
    finally:
        _testing = previous


def build_client(
    *,
    connect_timeout: float,
    read_timeout: float,
    auth: httpx.Auth | None = None,
    on_request: Callable[[], None] | None = None,
    request_timeout: float | None = 300.0,
    stop: StopToken | None = None,
    origins: OriginPolicy | None = None,
) -> httpx.Client:
    """A client with separate connect and read timeouts and connection reuse.

    ``request_timeout`` bounds each request in all (redirects and body included) and
    ``stop`` ends its I/O when the run must stop (:mod:`.deadline`); ``origins`` keeps
    requests and credentials on the job's origin (:mod:`.origin`). ``on_request`` is
    called as each request is sent through the client itself: the count for Python
    sources, whose requests do not go through :func:`send`.
    """
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    hooks: list[Callable[[httpx.Request], None]] = []
    if origins is not None:
        hooks.append(origins.screen)
    if on_request is not None:
        hooks.append(lambda _request: on_request())
    return DailyfetchClient(
        request_timeout=request_timeout,
        stop=stop,
        timeout=timeout,
        auth=auth,
        event_hooks={"request": hooks} if hooks else None,
        follow_redirects=True,
        headers={"User-Agent": f"dailyfetch/{__version__}", "Accept": "application/json"},
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )


def merge_params(url: str, params: dict[str, Any] | None) -> httpx.URL:
    """``url`` with ``params`` added to (not replacing) the query it already has.

    A URL with no query (nor fragment), as a page's usually is, takes the encoded
    parameters as its query in one parse: the same URL as ``copy_merge_params`` makes,
    in half the time (a page's request spent 28 us here).
    """
    if not params:
        return httpx.URL(url)
    if "?" not in url and "#" not in url:
        return httpx.URL(f"{url}?{httpx.QueryParams(params)}")
    return httpx.URL(url).copy_merge_params(params)


def describe_request(url: str, params: dict[str, Any] | None = None) -> str:
    """The request's URL with its query, masked for display."""
    return mask_url(str(merge_params(url, params)))


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, given as seconds or as an HTTP date."""
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
    def __init__(self, message: str, status: int, wait: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.wait = wait


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    policy: RetryPolicy | None = None,
    control: FetchControl | None = None,
) -> httpx.Response:
    """Send one request with retries; return a 2xx response or raise a :class:`SourceError`.

    Connection errors, timeouts, 408, 429 and 5xx are retried with exponential
    backoff and full jitter (``tenacity``), waiting what ``Retry-After`` asks when
    it is longer. Waits sleep on the run's stop token, so a deadline or SIGTERM
    ends them at once. The rate limit and the in-flight cap apply to every attempt.
    """
    policy = _testing or policy or RetryPolicy()
    control = control or FetchControl()
    register_issued_secrets(url)  # a next page's ?token= is redacted wherever it is echoed
    register_issued_params(params)
    backoff = wait_random_exponential(multiplier=policy.wait_initial, max=policy.wait_max)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        chosen = 0.0 if _testing else backoff(state)
        if isinstance(exc, _RetryableResponse) and exc.wait is not None and not _testing:
            chosen = max(chosen, exc.wait)
        return chosen

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts) | stop_before_delay(policy.timeout),
        wait=wait,
        retry=retry_if_exception_type(TransientSourceError),
        sleep=control.stop.sleep,
        before_sleep=lambda state: _count_retry(control, state),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            control.stop.check()
            with control.slots:
                if control.limiter is not None:  # inside the slot, so the start is the send
                    control.limiter.acquire(control.stop)
                control.stats.count_request()
                return _send_once(client, method, url, params=params, headers=headers, control=control)
    raise AssertionError("unreachable")  # pragma: no cover


def _count_retry(control: FetchControl, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    status = exc.status if isinstance(exc, _RetryableResponse) else None
    control.stats.count_retry(status)
    control.observer.http_retry(status)


def _send_once(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    params: dict[str, Any] | None,
    headers: dict[str, str] | None,
    control: FetchControl,
) -> httpx.Response:
    try:
        response = client.request(method, merge_params(url, params), headers=headers)
    except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client was closed (the grace ran out)
        control.stop.check()  # a failure because the run is stopping is the stop, not the source's fault
        if isinstance(exc, RuntimeError):
            raise
        raise _source_error(exc, url, params) from None
    # The body is read and the connection returned: drop the stream, whose back-reference
    # to the response is a cycle that would keep every page's body alive until the
    # cyclic GC runs (which runner._rarer_gc makes rare).
    response.stream = httpx.ByteStream(b"")
    status = response.status_code
    if status < 400:
        return response
    shown = mask_url(str(response.request.url))
    message = f"HTTP {status} {response.reason_phrase} from {shown}: {body_preview(response)}"
    if status in RETRYABLE_STATUS:
        raise _RetryableResponse(message, status, retry_after(response))
    raise SourceError(message)


def _source_error(exc: httpx.HTTPError, url: str, params: dict[str, Any] | None) -> SourceError:
    """An httpx failure as a :class:`SourceError`: transient when another attempt may pass."""
    shown = describe_request(url, params)
    if isinstance(exc, httpx.ConnectError):
        host = httpx.URL(url).host
        text = str(exc)
        if (
            "Name or service not known" in text
            or "nodename nor servname" in text
            or ("Temporary failure in name resolution" in text)
        ):
            return SourceError(f"cannot reach host {host}: the name does not resolve (offline?) [{shown}]")
        return TransientSourceError(f"cannot connect to {host}: {redact(text)} [{shown}]")
    if isinstance(exc, RequestTimeout):
        return TransientSourceError(
            f"no complete response from {shown} within [source] request_timeout = {exc.seconds:g} s",
            hint="raise [source] request_timeout if the API is this slow",
        )
    if isinstance(exc, httpx.TimeoutException):
        return TransientSourceError(f"{type(exc).__name__} after waiting on {shown}")
    if isinstance(exc, IncompleteBody):
        return (TransientSourceError if exc.truncated else SourceError)(redact(str(exc)))
    if isinstance(exc, httpx.DecodingError):  # a bad gzip checksum, an invalid stream: corrupt in transit
        return TransientSourceError(f"the body from {shown} does not decode: {redact(str(exc))}")
    if isinstance(exc, httpx.TransportError):
        return TransientSourceError(
            f"connection failed ({type(exc).__name__}: {redact(str(exc))}) on {shown}"
        )
    return SourceError(f"{type(exc).__name__}: {redact(str(exc))} on {shown}")


def body_preview(response: httpx.Response) -> str:
    """The first bytes of the body, on one line and redacted before each cut, so no secret is half-shown.

    Only the first bytes are decoded: :func:`~dailyfetch.redact.redact_head` masks the
    secrets in them and drops the tail a secret cut at the read limit may start in.
    Whitespace is collapsed, redacted again (a doubled space can no longer hide a
    secret's), then cut to the preview's length by :func:`~dailyfetch.redact.clip`.
    """
    content = response.content
    head = content[: _BODY_PREVIEW * 8].decode("utf-8", "replace")
    more = len(content) > _BODY_PREVIEW * 8
    text = redact_head(head) if more else redact(head)
    return repr(clip(" ".join(text.split()), _BODY_PREVIEW, more=more))


def parse_json(response: httpx.Response) -> Any:
    """The response body as JSON; a non-JSON body (an HTML error page, say) is a clear error."""
    if response.status_code == 204 or not response.content:
        return None
    try:
        return jsontext.loads(response.content)  # integers beyond 64 bits exact (orjson rounds them)
    except orjson.JSONDecodeError:
        kind = response.headers.get("content-type", "unknown content type").split(";")[0]
        raise SourceError(
            f"HTTP {response.status_code} from {mask_url(str(response.request.url))} is not JSON "
            f"({kind}): {body_preview(response)}"
        ) from None
