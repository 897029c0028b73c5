"""Unit tests for the live progress display: its counters, its ETA, its rendering and when it shows."""

from __future__ import annotations

import io
import sys
from datetime import date

import pytest
import structlog
from rich.console import Console

from dailyfetch.observe import NullObserver, RunObserver
from dailyfetch.progress import LiveProgress, make_observer


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _console(buffer: io.StringIO) -> Console:
    return Console(file=buffer, force_terminal=True, width=120, color_system=None)


def _text(progress: LiveProgress) -> str:
    out = io.StringIO()
    _console(out).print(progress.render())
    return out.getvalue()


def _started(clock: FakeClock, partitions: int = 4) -> LiveProgress:
    progress = LiveProgress(console=_console(io.StringIO()), clock=clock)
    progress.run_started("orders", date(2026, 11, 27), partitions)
    return progress


def test_is_a_run_observer() -> None:
    """LiveProgress implements every RunObserver callback."""
    observer: RunObserver = LiveProgress(console=_console(io.StringIO()))
    for name in ("run_started", "partition_started", "page_fetched", "batch_committed",
                 "partition_finished", "http_retry", "run_finished"):  # fmt: skip
        assert callable(getattr(observer, name))


def test_a_second_run_starts_from_zero() -> None:
    """Reusing the observer for another run resets its counters."""
    progress = _started(FakeClock())
    progress.batch_committed("*", 10)
    progress.partition_finished("*", "succeeded")
    progress.run_finished("succeeded", 10)
    progress.run_started("orders", date(2026, 11, 28), 3)
    assert (progress.rows, progress.partitions_done, progress.outcome) == (0, 0, None)
    progress.close()


def test_counters_follow_the_callbacks() -> None:
    """Pages, rows, resumed rows, partitions and retries (429s apart) are counted."""
    clock = FakeClock()
    progress = _started(clock)
    progress.partition_started("region=eu", 5)
    progress.page_fetched("region=eu", 10)
    progress.page_fetched("region=eu", 7)
    progress.batch_committed("region=eu", 17)
    progress.http_retry(429)
    progress.http_retry(None)
    progress.partition_finished("region=eu", "succeeded")
    progress.partition_started("region=us", 0)
    progress.partition_finished("region=us", "failed")
    assert (progress.pages, progress.records, progress.rows, progress.resumed_rows) == (2, 17, 17, 5)
    assert (progress.partitions_done, progress.partitions_failed) == (1, 1)
    assert (progress.retries, progress.http_429) == (2, 1)
    assert progress.active == []
    progress.close()


def test_rate_and_eta_come_from_elapsed_time() -> None:
    """Rows per second and the ETA (time per partition so far x partitions left) use the clock."""
    clock = FakeClock()
    progress = _started(clock, partitions=4)
    assert progress.eta_seconds is None and progress.rows_per_second is None
    clock.now += 10
    progress.batch_committed("a", 500)
    progress.partition_finished("a", "succeeded")
    assert progress.rows_per_second == 50
    assert progress.eta_seconds == 30  # 10 s for one partition, three to go
    progress.run_finished("succeeded", 500)
    assert progress.eta_seconds is None


def test_rendering_shows_every_figure() -> None:
    """The display shows the job, date, partitions done/total, pages, rows, rows/s, retries and ETA."""
    clock = FakeClock()
    progress = _started(clock, partitions=8)
    progress.partition_started("region=eu", 0)
    for _ in range(3):
        progress.page_fetched("region=eu", 100)
    progress.batch_committed("region=eu", 1200)
    progress.http_retry(429)
    clock.now += 4
    progress.partition_finished("region=eu", "succeeded")
    progress.partition_started("region=us", 0)
    text = _text(progress)
    for expected in ("orders", "2026-11-27", "1/8 partitions", "pages 3", "rows 1,200", "300 rows/s",
                     "retries 1 (429: 1)", "ETA 0:00:28", "working on region=us"):  # fmt: skip
        assert expected in text, (expected, text)
    progress.close()


def test_eta_is_unknown_until_a_partition_is_done() -> None:
    """Before the first partition finishes the ETA is shown as unknown."""
    progress = _started(FakeClock())
    assert "ETA -" in _text(progress)
    progress.close()


def test_live_display_draws_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the live display draws frames and leaves the final state when the run ends."""
    buffer = io.StringIO()
    clock = FakeClock()
    progress = LiveProgress(console=_console(buffer), clock=clock, refresh_per_second=20)
    progress.run_started("orders", date(2026, 11, 27), 2)
    progress.partition_started("*", 0)
    progress.batch_committed("*", 10)
    progress.partition_finished("*", "succeeded")
    progress.partition_started("b", 0)
    progress.partition_finished("b", "succeeded")
    progress.run_finished("succeeded", 10)
    progress.run_finished("succeeded", 10)  # a second end is harmless
    output = buffer.getvalue()
    assert "2/2 partitions" in output
    assert "succeeded" in output
    assert "\x1b[?25h" in output  # the cursor is shown again


def test_logs_are_routed_above_the_display_and_restored(capsys: pytest.CaptureFixture[str]) -> None:
    """While the display runs, structlog writes through it; afterwards its own stream is back."""
    before = structlog.get_config()["logger_factory"]
    buffer = io.StringIO()
    progress = LiveProgress(console=_console(buffer), clock=FakeClock())
    progress.run_started("orders", date(2026, 11, 27), 1)
    assert structlog.get_config()["logger_factory"] is not before
    structlog.get_logger("dailyfetch").info("partition.started", partition="*")
    progress.run_finished("succeeded", 0)
    assert structlog.get_config()["logger_factory"] is before
    assert "partition.started" in buffer.getvalue()


def test_make_observer_is_silent_off_a_tty_and_when_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off a terminal, on a dumb one or with --quiet the observer does nothing; else it is the live display."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert isinstance(make_observer(quiet=False), NullObserver)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert isinstance(make_observer(quiet=True), NullObserver)
    assert isinstance(make_observer(quiet=False), LiveProgress)
    monkeypatch.setenv("TERM", "dumb")
    assert isinstance(make_observer(quiet=False), NullObserver)


def test_a_broken_console_never_breaks_the_run() -> None:
    """If the display cannot start, the observer carries on counting and raises nothing."""

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("terminal went away")

    progress = LiveProgress(console=Console(file=Broken(), force_terminal=True), clock=FakeClock())
    progress.run_started("orders", date(2026, 11, 27), 1)
    progress.batch_committed("*", 3)
    progress.run_finished("failed", 3)
    assert progress.rows == 3
