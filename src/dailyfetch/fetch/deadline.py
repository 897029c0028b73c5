"""Deadlines for HTTP I/O: each request's total time, and the run's stop token.

httpx's timeouts apply to each socket operation: a server that sends one byte every
few seconds never trips a 60 s read timeout, and its body can take hours. The
network backend here wraps httpcore's, so every connect, write and read is bounded
by the earliest of its own timeout, the current request's deadline
(``[source] request_timeout``, set per thread by :func:`request_deadline` around one
request, its redirects and its body) and the run's deadline (``[job] timeout``).
Reads wait in slices of :data:`SLICE` seconds and look at the stop token between
them, so SIGTERM or SIGINT ends a read that is waiting within a slice. A
slice that ends with nothing received consumes nothing, so resuming the read is
exact (also under TLS, whose partial records stay buffered).

When the request's own deadline ends an operation, :func:`request_deadline`'s
budget says so (``expired``), so the caller can name ``request_timeout``. When the
run must stop, the operation fails with a transport error, and the caller checks
the stop token to turn it into :class:`~dailyfetch.errors.RunInterrupted`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from dailyfetch.stopping import StopToken

SLICE = 0.2  # seconds a read waits before it looks at the stop token again


class Budget(threading.local):
    """The current thread's request deadline (monotonic), and whether it ended an operation."""

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.expired = False


_BUDGET = Budget()


@contextmanager
def request_deadline(seconds: float | None) -> Iterator[Budget]:
    """Bound every socket operation of this thread to ``seconds`` from now (``None``: no bound).

    Nested, the earlier deadline wins. The budget yielded says whether it ended one.
    """
    saved = (_BUDGET.deadline, _BUDGET.expired)
    if seconds is not None:
        mine = time.monotonic() + seconds
        _BUDGET.deadline = mine if saved[0] is None else min(mine, saved[0])
    _BUDGET.expired = False
    try:
        yield _BUDGET
    finally:
        # the outer deadline ended an operation in here too (an OAuth2 token request in an auth flow)
        inherited = _BUDGET.expired and saved[0] is not None and _BUDGET.deadline == saved[0]
        _BUDGET.deadline, _BUDGET.expired = saved[0], saved[1] or inherited


def _wait(
    stop: StopToken | None,
    own_end: float | None,
    now: float,
    *,
    sliced: bool,
    aborted: type[httpcore.NetworkError],
    timed_out: type[httpcore.TimeoutException],
) -> float | None:
    """How long the next socket operation may wait; raise if the run stops or the request's deadline passed."""
    end = own_end
    if stop is not None:
        run_end = stop.deadline
        if stop.stopping or (run_end is not None and now >= run_end):
            raise aborted("aborted: the run is stopping")
        if run_end is not None:
            end = run_end if end is None else min(end, run_end)
    deadline = _BUDGET.deadline
    if deadline is not None:
        if now >= deadline:
            _BUDGET.expired = True
            raise timed_out("the request's total deadline passed")
        end = deadline if end is None else min(end, deadline)
    wait = None if end is None else max(end - now, 0.001)  # 0 would make the socket non-blocking
    if sliced and stop is not None:
        wait = SLICE if wait is None else min(wait, SLICE)
    return wait


class _Stream(httpcore.NetworkStream):
    """A network stream whose operations keep to the deadlines (see the module docstring)."""

    def __init__(self, inner: httpcore.NetworkStream, stop: StopToken | None) -> None:
        self._inner = inner
        self._stop = stop

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        stop = self._stop
        if stop is None and _BUDGET.deadline is None:
            return self._inner.read(max_bytes, timeout)
        now = time.monotonic()
        own_end = None if timeout is None else now + timeout
        while True:
            wait = _wait(
                stop, own_end, now, sliced=True, aborted=httpcore.ReadError, timed_out=httpcore.ReadTimeout
            )
            try:
                return self._inner.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                now = time.monotonic()
                if own_end is not None and now >= own_end:
                    raise  # the read's own timeout ([source] read_timeout)
                # a slice ended, or a deadline: the next _wait raises for a deadline

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        wait = self._bounded(timeout, httpcore.WriteError, httpcore.WriteTimeout)
        self._inner.write(buffer, wait)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = self._bounded(timeout, httpcore.ConnectError, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, wait), self._stop)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def _bounded(
        self,
        timeout: float | None,
        aborted: type[httpcore.NetworkError],
        timed_out: type[httpcore.TimeoutException],
    ) -> float | None:
        if self._stop is None and _BUDGET.deadline is None:
            return timeout
        now = time.monotonic()
        own_end = None if timeout is None else now + timeout
        return _wait(self._stop, own_end, now, sliced=False, aborted=aborted, timed_out=timed_out)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend, with every stream kept to the deadlines."""

    def __init__(self, inner: httpcore.NetworkBackend, stop: StopToken | None) -> None:
        self._inner = inner
        self._stop = stop

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = self._connect_wait(timeout)
        stream = self._inner.connect_tcp(
            host, port, timeout=wait, local_address=local_address, socket_options=socket_options
        )
        return _Stream(stream, self._stop)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        wait = self._connect_wait(timeout)
        stream = self._inner.connect_unix_socket(path, timeout=wait, socket_options=socket_options)
        return _Stream(stream, self._stop)

    def sleep(self, seconds: float) -> None:
        if self._stop is not None:
            self._stop.sleep(seconds)  # connection retries: a stop ends the wait
        else:
            self._inner.sleep(seconds)

    def _connect_wait(self, timeout: float | None) -> float | None:
        if self._stop is None and _BUDGET.deadline is None:
            return timeout
        now = time.monotonic()
        own_end = None if timeout is None else now + timeout
        return _wait(
            self._stop,
            own_end,
            now,
            sliced=False,
            aborted=httpcore.ConnectError,
            timed_out=httpcore.ConnectTimeout,
        )


def install(client: httpx.Client, stop: StopToken | None) -> None:
    """Keep every connection ``client`` opens to the deadlines (its transport and its proxy mounts).

    httpx does not take a network backend, so the one its connection pools hold is
    wrapped in place. Transports that are not httpx's own (a test's mock) are left as
    they are; an httpx whose pools no longer hold a backend fails here, loudly.
    """
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        if not isinstance(transport, httpx.HTTPTransport):
            continue
        pool = transport._pool
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(backend, httpcore.NetworkBackend):
            raise RuntimeError("httpx's connection pool holds no network backend: deadlines cannot apply")
        if not isinstance(backend, DeadlineBackend):
            pool._network_backend = DeadlineBackend(backend, stop)
