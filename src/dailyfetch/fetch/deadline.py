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

The network backend itself is in :mod:`.deadline_io`, imported when the first client
is built: it needs httpcore, whose import (12 ms) then runs beside the run's database
set-up instead of before it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dailyfetch.stopping import StopToken

if TYPE_CHECKING:
    import httpcore
    import httpx

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


def install(client: httpx.Client, stop: StopToken | None) -> None:
    """Keep every connection ``client`` opens to the deadlines (see :func:`.deadline_io.install_backend`)."""
    from dailyfetch.fetch.deadline_io import install_backend

    install_backend(client, stop)


def __getattr__(name: str) -> Any:
    if name == "DeadlineBackend":  # the backend's class, where it was defined before deadline_io
        from dailyfetch.fetch import deadline_io

        return deadline_io.DeadlineBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
