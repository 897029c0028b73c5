"""Live progress on a terminal: partitions done, pages, rows, rows/s, retries and an ETA.

:func:`make_observer` returns a :class:`LiveProgress` when stderr is a terminal and
``--quiet`` is off, else a :class:`~dailyfetch.observe.NullObserver`, so logs off a
TTY stay pure JSON lines. While the display runs, stdout, stderr and dailyfetch's
log lines are printed above it instead of tearing it. rich is imported only here.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from dailyfetch.observe import NullObserver, RunObserver

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

__all__ = ["LiveProgress", "make_observer"]


def make_observer(quiet: bool) -> RunObserver:
    """The live display on a terminal; an observer that does nothing off one or with ``--quiet``."""
    if quiet or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return NullObserver()
    return LiveProgress()


def _clock_text(seconds: float) -> str:
    return str(timedelta(seconds=round(max(0.0, seconds))))


class LiveProgress:
    """A :class:`~dailyfetch.observe.RunObserver` that draws a rich live display on stderr."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_per_second: float = 4,
    ) -> None:
        self._console = console
        self._clock = clock
        self._refresh = refresh_per_second
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._saved_factory: Any = None
        self._reset()

    def _reset(self) -> None:
        """Zero every counter (a new run starts)."""
        self.job = ""
        self.logical_date: date | None = None
        self.partitions_total = 0
        self.partitions_done = 0
        self.partitions_failed = 0
        self.pages = 0
        self.records = 0
        self.rows = 0
        self.resumed_rows = 0
        self.retries = 0
        self.http_429 = 0
        self.active: list[str] = []
        self.outcome: str | None = None
        self.started = self._clock()
        self.ended: float | None = None

    # RunObserver ---------------------------------------------------------

    def run_started(self, job: str, logical_date: date, partitions: int) -> None:
        """Reset the counters and start the display."""
        with self._lock:
            self._reset()
            self.job, self.logical_date, self.partitions_total = job, logical_date, partitions
        self._start()

    def partition_started(self, key: str, resumed_rows: int) -> None:
        """Show ``key`` as in progress."""
        with self._lock:
            self.active.append(key)
            self.resumed_rows += resumed_rows

    def page_fetched(self, key: str, records: int) -> None:
        """Count a page."""
        with self._lock:
            self.pages += 1
            self.records += records

    def batch_committed(self, key: str, rows: int) -> None:
        """Count committed rows."""
        with self._lock:
            self.rows += rows

    def partition_finished(self, key: str, status: str) -> None:
        """Count the partition as done or failed."""
        with self._lock:
            if key in self.active:
                self.active.remove(key)
            if status == "succeeded":
                self.partitions_done += 1
            else:
                self.partitions_failed += 1

    def http_retry(self, status: int | None) -> None:
        """Count a retry (and a 429 separately)."""
        with self._lock:
            self.retries += 1
            if status == 429:
                self.http_429 += 1

    def run_finished(self, outcome: str, rows: int) -> None:
        """Draw the final state and stop the display."""
        with self._lock:
            self.outcome = outcome
            self.ended = self._clock()
            self.active.clear()
        self.close()

    # Derived values ------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return (self.ended if self.ended is not None else self._clock()) - self.started

    @property
    def rows_per_second(self) -> float | None:
        """Committed rows per second so far, once a second has passed."""
        elapsed = self.elapsed
        return self.rows / elapsed if elapsed >= 1.0 else None

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left, from the time per partition so far; None until one partition is done."""
        done, total = self.partitions_done, self.partitions_total
        if done <= 0 or done >= total or self.outcome is not None:
            return None
        return self.elapsed / done * (total - done)

    # Rendering -----------------------------------------------------------

    def render(self) -> RenderableType:
        """The display as a rich renderable."""
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            total = max(self.partitions_total, 1)
            finished = self.partitions_done + self.partitions_failed
            title = Text.assemble(
                ("dailyfetch ", "bold"),
                (self.job, "bold cyan"),
                f" {self.logical_date.isoformat() if self.logical_date else ''}",
            )
            head = Table.grid(padding=(0, 1))
            head.add_row(
                title,
                ProgressBar(total=total, completed=finished, width=30),
                Text(f"{self.partitions_done}/{self.partitions_total} partitions"),
                Text(f"{self.partitions_failed} failed", style="red") if self.partitions_failed else Text(""),
            )
            speed = self.rows_per_second
            eta = self.eta_seconds
            parts = [
                f"pages {self.pages:,}",
                f"rows {self.rows + self.resumed_rows:,}",
                f"{speed:,.0f} rows/s" if speed is not None else "- rows/s",
                f"retries {self.retries:,}" + (f" (429: {self.http_429:,})" if self.http_429 else ""),
                f"elapsed {_clock_text(self.elapsed)}",
                f"ETA {_clock_text(eta)}" if eta is not None else "ETA -",
            ]
            stats = Text("  ·  ".join(parts), style="dim" if self.outcome else "")
            grid = Table.grid()
            grid.add_row(head)
            grid.add_row(stats)
            if self.active:
                shown = ", ".join(self.active[:3]) + (
                    f" +{len(self.active) - 3}" if len(self.active) > 3 else ""
                )
                grid.add_row(Text(f"working on {shown}", style="dim"))
            if self.outcome is not None:
                colour = {"succeeded": "green", "failed": "red"}.get(self.outcome, "yellow")
                grid.add_row(Text(self.outcome, style=f"bold {colour}"))
        return grid

    def __rich__(self) -> RenderableType:
        """Let rich print the observer directly."""
        return self.render()

    # The live display ----------------------------------------------------

    def _start(self) -> None:
        """Start the live display; route prints and log lines above it meanwhile."""
        if self._live is not None:
            return
        try:
            from rich.console import Console
            from rich.live import Live

            console = self._console or Console(stderr=True)
            self._live = Live(
                get_renderable=self.render,
                console=console,
                refresh_per_second=self._refresh,
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._live.start()
            from rich.file_proxy import FileProxy

            if isinstance(sys.stderr, FileProxy):
                self._route_logs(sys.stderr)
            atexit.register(self.close)
        except Exception:  # observers never raise; the run goes on without a display
            self._live = None

    def _route_logs(self, stream: Any) -> None:
        """Make structlog write to ``stream`` (the display's stderr proxy) until :meth:`close`."""
        import structlog

        self._saved_factory = structlog.get_config().get("logger_factory")
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=stream))

    def close(self) -> None:
        """Stop the display (idempotent) and give log lines their stream back."""
        live, self._live = self._live, None
        if live is None:
            return
        atexit.unregister(self.close)
        try:
            if self._saved_factory is not None:
                import structlog

                structlog.configure(logger_factory=self._saved_factory)
                self._saved_factory = None
            live.stop()
        except Exception:  # never raise from an observer
            pass
