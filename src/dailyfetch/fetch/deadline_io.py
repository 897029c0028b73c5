"""The network backend that keeps httpx's connections to the deadlines of :mod:`.deadline`.

Every connect, write and read of a connection the run's client opens goes through
:class:`DeadlineBackend`'s streams, bounded as :mod:`.deadline` describes. Imported
when the first client is built (:func:`.deadline.install`), not at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from dailyfetch.fetch.deadline import _BUDGET, _wait
from dailyfetch.stopping import StopToken


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


def install_backend(client: httpx.Client, stop: StopToken | None) -> None:
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
