"""The run's :class:`httpx.Client`: deadlines, the stop token and complete bodies, on every request.

:class:`DailyfetchClient` is what :func:`~dailyfetch.fetch.http.build_client` makes, and
what a Python source gets as ``ctx.client``. Each :meth:`~DailyfetchClient.send` (every
request, with its redirects, auth round trips and body) runs under
:func:`~dailyfetch.fetch.deadline.request_deadline`; a failure while the run is stopping
is :class:`~dailyfetch.errors.RunInterrupted`, not a transport error; and a compressed
body whose stream did not end (a gzip body without its CRC32/ISIZE trailer, a deflate
stream cut short) is an error instead of the bytes decoded so far.
"""

from __future__ import annotations

from typing import Any

import httpx

from dailyfetch.errors import RunInterrupted
from dailyfetch.fetch import deadline
from dailyfetch.redact import mask_url
from dailyfetch.stopping import StopToken


class RequestTimeout(httpx.TimeoutException):
    """A request took longer than ``[source] request_timeout`` in all (a body trickling in, say)."""

    def __init__(self, seconds: float, *, request: httpx.Request) -> None:
        super().__init__(f"no complete response within request_timeout = {seconds:g} s", request=request)
        self.seconds = seconds


class IncompleteBody(httpx.DecodingError):
    """A compressed body whose stream did not end (``truncated``), or that has bytes after its end."""

    def __init__(self, message: str, *, request: httpx.Request, truncated: bool) -> None:
        super().__init__(message, request=request)
        self.truncated = truncated


class DailyfetchClient(httpx.Client):
    """An :class:`httpx.Client` whose requests keep to a total deadline and the run's stop token."""

    def __init__(
        self, *, request_timeout: float | None = None, stop: StopToken | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.request_timeout = request_timeout
        self.stop = stop
        deadline.install(self, stop)

    def send(self, request: httpx.Request, *, stream: bool = False, **kwargs: Any) -> httpx.Response:
        """Send like :meth:`httpx.Client.send`, within the request's deadline; check the body is whole."""
        with deadline.request_deadline(self.request_timeout) as budget:
            try:
                response = super().send(request, stream=stream, **kwargs)
            except Exception as exc:
                if self.stop is not None and self.stop.requested:
                    raise RunInterrupted(
                        self.stop.reason or "stopped", exit_code=self.stop.exit_code
                    ) from exc
                if budget.expired and self.request_timeout is not None:
                    raise RequestTimeout(self.request_timeout, request=request) from exc
                raise
        if not stream:
            check_complete(response)
        return response


def check_complete(response: httpx.Response) -> None:
    """Raise :class:`IncompleteBody` if the body's gzip/deflate (or zstd) stream did not end exactly.

    httpx decodes with a zlib ``decompressobj`` and flushes what it has at the end of
    the body, never asking whether the stream reached its end: a gzip body cut before
    its 8-byte trailer (CRC32 and length) decodes to whatever came, unchecked. The
    decoder httpx kept for the response is asked here: ``eof`` is true only once the
    trailer was read and verified.
    """
    if not response.num_bytes_downloaded and not response.content:
        return  # no body at all (HEAD, 204, 304): nothing was decoded
    decoder = getattr(response, "_decoder", None)
    for part in getattr(decoder, "children", None) or [decoder]:
        stream = getattr(part, "decompressor", None)
        if stream is None:
            continue  # identity (or a decoder without a stream end to check)
        where = mask_url(str(response.request.url))
        coding = response.headers.get("content-encoding", "compressed")
        if not getattr(stream, "eof", True):
            raise IncompleteBody(
                f"the {coding} body from {where} ends before its stream does (cut short: "
                "no trailer, so its checksum was never verified)",
                request=response.request,
                truncated=True,
            )
        if getattr(stream, "unused_data", b""):
            raise IncompleteBody(
                f"the {coding} body from {where} has bytes after the end of its stream",
                request=response.request,
                truncated=False,
            )
