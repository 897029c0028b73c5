"""When a run must stop early: its deadline, or SIGTERM/SIGINT, and the grace to do it in.

ECS has no task timeout of its own, and it stops a task (or Fargate Spot reclaims
it) with SIGTERM, then SIGKILL after ``stopTimeout`` (30 s). A :class:`StopToken`
is shared by everything in a run: the page loop checks it between pages, retry
waits sleep on it (so they end at once), and the signal handler sets it. The run
then commits what it has, records ``interrupted`` and exits with 143 (SIGTERM),
130 (SIGINT) or 1 (deadline), within ``[job].stop_grace``. A watchdog enforces
the grace: shortly before it runs out it aborts in-flight HTTP requests, and at
the end it exits the process (all committed work is safe by construction).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from dailyfetch.errors import RunInterrupted

SIGNAL_EXIT = {signal.SIGTERM: 143, signal.SIGINT: 130}


class StopToken:
    """Whether (and why) the run must stop; an interruptible clock for waits."""

    def __init__(self, deadline_seconds: float | None = None) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.exit_code = 1
        self.deadline = time.monotonic() + deadline_seconds if deadline_seconds else None
        self.deadline_seconds = deadline_seconds

    def request(self, reason: str, exit_code: int = 1) -> None:
        """Ask the run to stop (the first reason wins)."""
        with self._lock:
            if self.reason is None:
                self.reason, self.exit_code = reason, exit_code
        self._event.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested (the deadline is not looked at: see :attr:`requested`)."""
        return self._event.is_set()

    @property
    def requested(self) -> bool:
        """Whether a stop was requested or the deadline has passed."""
        if not self._event.is_set() and self.deadline is not None and time.monotonic() >= self.deadline:
            self.request(f"the run's deadline ([job].timeout = {_human(self.deadline_seconds)}) passed", 1)
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`RunInterrupted` if the run must stop."""
        if self.requested:
            raise RunInterrupted(self.reason or "stopped", exit_code=self.exit_code)

    def remaining(self) -> float | None:
        """Seconds until the deadline, or ``None`` without one."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``; wake early and raise if the run must stop."""
        remaining = self.remaining()
        if remaining is not None:
            seconds = min(seconds, remaining)
        self._event.wait(max(0.0, seconds))
        self.check()


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def parse_duration(text: str) -> float:
    """``"45m"``, ``"1h30m"``, ``"90s"``, ``"250ms"``, ``"2d"`` or a number of seconds, as seconds."""
    import re

    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)", value)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != value.replace(" ", ""):
        raise ValueError(f"'{text}' is not a duration such as '90s', '45m' or '1h30m'")
    scale = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


@contextmanager
def stop_on_signals(token: StopToken, *, grace: float, abort: Callable[[], None]) -> Iterator[None]:
    """Turn SIGTERM/SIGINT into ``token.request``; enforce the grace period with a watchdog.

    ``abort`` is called ``min(3, grace/4)`` seconds before the grace runs out, to
    break in-flight requests. Only the main thread can install handlers; elsewhere
    this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    finished = threading.Event()

    def watchdog(code: int) -> None:
        margin = min(3.0, grace / 4)
        if finished.wait(max(0.0, grace - margin)):
            return
        abort()
        if finished.wait(margin):
            return
        os._exit(code)

    def handler(signum: int, _frame: FrameType | None) -> None:
        if token.reason is not None and token.exit_code in SIGNAL_EXIT.values():
            return  # a second signal changes nothing: the grace period is already running
        name = signal.Signals(signum).name
        token.request(
            f"stopped by {name}; committed progress is kept and the next run resumes",
            SIGNAL_EXIT[signal.Signals(signum)],
        )
        threading.Thread(
            target=watchdog, args=(token.exit_code,), daemon=True, name="dailyfetch-grace"
        ).start()

    previous = {sig: signal.signal(sig, handler) for sig in SIGNAL_EXIT}
    try:
        yield
    finally:
        finished.set()
        for sig, old in previous.items():
            signal.signal(sig, old)
