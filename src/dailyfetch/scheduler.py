"""The local scheduler: ``dailyfetch schedule`` runs the job at its fire times, in the foreground.

One loop, one thread. Each pass (at most every ``loop_seconds``, sooner when a fire
time or a running child needs it) does, in order:

1. touch the health file (``dailyfetch schedule --health`` reads its age);
2. compare the wall clock with the monotonic clock: if the wall clock moved more than
   ``wake_threshold`` seconds further, the machine slept (or the clock was set
   forward); the fire times it skipped are left to catch-up, and the next fire time is
   recomputed from now;
3. catch up, on start and after a wake: the scheduled logical dates of the last
   ``catch_up_days`` with no succeeded run in the ledger, chosen by ``catch_up``;
4. queue the logical date of each fire time that is due;

"Dates" here are window keys (:mod:`dailyfetch.window`): logical dates for day and
week windows, window starts (naive datetimes) for hour windows.
5. reap the running child, then start the next queued date.

At most one run is in progress. A date due while another runs waits in the queue
(``schedule.deferred``) and starts when that run ends; a date due while that same
date runs is not queued again. Runs happen in child processes (see
:mod:`dailyfetch.launch`). SIGTERM or SIGINT stop the loop: the running child gets
SIGTERM and ``stop_grace`` seconds, then SIGKILL; a second signal skips the wait.

Time and processes are injected (:class:`Clock`, :class:`Launcher`), so tests drive
days of schedule in milliseconds with a fake clock and a fake launcher.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Protocol

import psycopg
import structlog

from dailyfetch.config import Config
from dailyfetch.errors import DailyfetchError
from dailyfetch.fire_times import FireCalendar
from dailyfetch.launch import describe_exit
from dailyfetch.missed import CatchUpPolicy, select_catch_up
from dailyfetch.schedule_health import LOOP_SECONDS, default_health_file, touch_health_file

__all__ = [
    "Clock",
    "Launcher",
    "RunHandle",
    "Scheduler",
    "SchedulerSettings",
    "SystemClock",
    "run_scheduler",
    "stopped_by_signals",
]

log = structlog.get_logger("dailyfetch")


class Clock(Protocol):
    """Where the scheduler gets its time from."""

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (and does not advance while the machine sleeps)."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """:func:`time.monotonic`."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """:func:`time.sleep`."""
        time.sleep(seconds)


class RunHandle(Protocol):
    """A run the launcher started."""

    @property
    def pid(self) -> int:
        """The process id (for the log)."""

    def poll(self) -> int | None:
        """The exit code once the run has ended, else None."""

    def terminate(self) -> None:
        """Ask the run to stop (SIGTERM)."""

    def kill(self) -> None:
        """Stop the run at once (SIGKILL)."""


class Launcher(Protocol):
    """Starts the run for one logical date without waiting for it."""

    def start(self, day: date) -> RunHandle:
        """Start ``dailyfetch run --date day``."""


SucceededDates = Callable[[date, date], set[date]]


@dataclass(frozen=True)
class SchedulerSettings:
    """How the loop behaves; the defaults are the production values."""

    catch_up: CatchUpPolicy = "latest"
    catch_up_days: int = 7
    loop_seconds: float = LOOP_SECONDS
    poll_seconds: float = 1.0
    stop_check_seconds: float = 1.0
    stop_grace: float = 25.0
    wake_threshold: float = 60.0
    health_file: Path | None = None


@dataclass
class _Running:
    day: date
    handle: RunHandle
    started: float


@dataclass
class Scheduler:
    """Runs a job's logical dates at its fire times; see the module docstring."""

    calendar: FireCalendar
    launcher: Launcher
    succeeded: SucceededDates
    clock: Clock = field(default_factory=SystemClock)
    settings: SchedulerSettings = field(default_factory=SchedulerSettings)
    on_missed: Callable[[list[date]], None] | None = None  # e.g. a "missed" notification
    _queue: deque[tuple[date, str, float]] = field(default_factory=deque, init=False)
    _running: _Running | None = field(default=None, init=False)
    _next_fire: datetime | None = field(default=None, init=False)
    _catch_up_reason: str | None = field(default=None, init=False)
    _stop_reason: str | None = field(default=None, init=False)
    _hurry: bool = field(default=False, init=False)
    _mark: tuple[datetime, float] | None = field(default=None, init=False)
    _health_warned: bool = field(default=False, init=False)

    def request_stop(self, reason: str = "requested") -> None:
        """Stop after the current step; a second request skips the run's grace period."""
        if self._stop_reason is not None:
            self._hurry = True
            return
        self._stop_reason = reason

    @property
    def idle(self) -> bool:
        """True when no run is in progress and none is queued."""
        return self._running is None and not self._queue

    def run(self) -> None:
        """Loop until :meth:`request_stop`; then stop the running child and return."""
        now = self.clock.now()
        if self.calendar.anchor is None:
            self.calendar = self.calendar.anchored(now)
        self._mark = (now, self.clock.monotonic())
        self._next_fire = self.calendar.next_after(now)
        self._catch_up_reason = "start"
        log.info(
            "schedule.started", expression=self.calendar.expression.text, timezone=self.calendar.timezone,
            describe=self.calendar.describe(), catch_up=self.settings.catch_up,
            next_fire=_iso(self._next_fire), pid=os.getpid(),
        )  # fmt: skip
        try:
            while self._stop_reason is None:
                self._step()
                self._pause(self._wait_seconds())
        except BaseException as exc:  # a bug or an unexpected error: still stop the child cleanly
            self._stop_reason = self._stop_reason or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._shutdown()

    def _step(self) -> None:
        now, mono = self.clock.now(), self.clock.monotonic()
        self._touch_health()
        self._check_clock(now, mono)
        if self._catch_up_reason is not None:
            self._catch_up(now)
        self._fire_due(now)
        self._reap()
        self._start_next()

    def _check_clock(self, now: datetime, mono: float) -> None:
        assert self._mark is not None
        wall_then, mono_then = self._mark
        self._mark = (now, mono)
        drift = (now - wall_then).total_seconds() - (mono - mono_then)
        if abs(drift) <= self.settings.wake_threshold:
            return
        if drift > 0:
            log.info("schedule.woke", slept_seconds=round(drift), skipped_until=now.isoformat())
            self._catch_up_reason = "wake"
        else:
            log.warning("schedule.clock_jump", seconds=round(drift), note="wall clock moved backwards")
        self._next_fire = self.calendar.next_after(now)

    def _catch_up(self, now: datetime) -> None:
        reason, settings = self._catch_up_reason, self.settings
        window = self.calendar.scheduled_keys(now - timedelta(days=settings.catch_up_days), now + _TICK)
        try:
            done = self.succeeded(window[0], window[-1]) if window else set()
        except (DailyfetchError, psycopg.Error) as exc:
            log.warning("schedule.catch_up_failed", reason=reason, error=str(exc), retry="next loop")
            return
        self._catch_up_reason = None
        missed = [d for d in window if d not in done]
        chosen = select_catch_up(window, done, settings.catch_up)
        log.info(
            "schedule.catch_up", reason=reason, policy=settings.catch_up, days=settings.catch_up_days,
            missed=[d.isoformat() for d in missed], running=[d.isoformat() for d in chosen],
        )  # fmt: skip
        if missed and self.on_missed is not None:
            self.on_missed(missed)
        for day in chosen:
            self._enqueue(day, "catch_up")

    def _fire_due(self, now: datetime) -> None:
        while self._next_fire is not None and self._next_fire <= now:
            fire = self._next_fire
            day = self.calendar.logical_key(fire)
            log.info("schedule.fire", fire_time=fire.isoformat(), date=day.isoformat())
            self._enqueue(day, "fire")
            self._next_fire = self.calendar.next_after(fire)
            if self._next_fire is None:
                log.info("schedule.no_more_fires", expression=self.calendar.expression.text)

    def _enqueue(self, day: date, reason: str) -> None:
        running = self._running
        if running is not None and running.day == day:
            log.info("schedule.skipped", date=day.isoformat(), reason="that date is already running")
            return
        if any(queued == day for queued, _, _ in self._queue):
            log.info("schedule.skipped", date=day.isoformat(), reason="that date is already queued")
            return
        self._queue.append((day, reason, self.clock.monotonic()))
        if running is not None:
            log.info(
                "schedule.deferred", date=day.isoformat(), waiting_for=running.day.isoformat(),
                queued=len(self._queue),
            )  # fmt: skip

    def _reap(self) -> None:
        running = self._running
        if running is None:
            return
        code = running.handle.poll()
        if code is None:
            return
        self._running = None
        seconds = round(self.clock.monotonic() - running.started, 3)
        event = log.info if code == 0 else log.error
        event(
            "schedule.run_finished", date=running.day.isoformat(), exit_code=code,
            outcome=describe_exit(code), seconds=seconds, pid=running.handle.pid,
        )  # fmt: skip

    def _start_next(self) -> None:
        while self._running is None and self._queue and self._stop_reason is None:
            day, reason, queued_at = self._queue.popleft()
            try:
                handle = self.launcher.start(day)
            except OSError as exc:
                log.error("schedule.launch_failed", date=day.isoformat(), error=str(exc))
                continue
            mono = self.clock.monotonic()
            self._running = _Running(day, handle, mono)
            log.info(
                "schedule.run_started", date=day.isoformat(), reason=reason, pid=handle.pid,
                waited_seconds=round(mono - queued_at, 3),
            )  # fmt: skip

    def _wait_seconds(self) -> float:
        wait = self.settings.loop_seconds
        if self._next_fire is not None:
            wait = min(wait, (self._next_fire - self.clock.now()).total_seconds())
        if self._running is not None:
            wait = min(wait, self.settings.poll_seconds)
        return max(wait, 0.0)

    def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` in slices, so a stop request is seen within ``stop_check_seconds``."""
        end = self.clock.monotonic() + seconds
        while self._stop_reason is None:
            left = end - self.clock.monotonic()
            if left <= 0:
                return
            self.clock.sleep(min(left, self.settings.stop_check_seconds))

    def _shutdown(self) -> None:
        running = self._running
        if running is not None:
            grace = self.settings.stop_grace
            log.info(
                "schedule.stopping", date=running.day.isoformat(), pid=running.handle.pid, grace_seconds=grace
            )
            running.handle.terminate()
            deadline = self.clock.monotonic() + grace
            while running.handle.poll() is None and self.clock.monotonic() < deadline and not self._hurry:
                self.clock.sleep(0.1)
            if running.handle.poll() is None:
                log.warning("schedule.killed", date=running.day.isoformat(), pid=running.handle.pid,
                            after_seconds=round(self.clock.monotonic() - deadline + grace, 1))  # fmt: skip
                running.handle.kill()
                deadline = self.clock.monotonic() + 5.0
                while running.handle.poll() is None and self.clock.monotonic() < deadline:
                    self.clock.sleep(0.1)
            self._reap()
        log.info(
            "schedule.stopped", reason=self._stop_reason,
            not_started=[day.isoformat() for day, _, _ in self._queue],
        )  # fmt: skip

    def _touch_health(self) -> None:
        path = self.settings.health_file
        if path is None:
            return
        try:
            touch_health_file(path)
        except OSError as exc:
            if not self._health_warned:
                log.warning(
                    "schedule.health_unwritable", path=str(path), error=str(exc),
                    hint="set DAILYFETCH_HEALTH_FILE to a writable path",
                )  # fmt: skip
                self._health_warned = True


_TICK = timedelta(microseconds=1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@contextmanager
def stopped_by_signals(scheduler: Scheduler) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT ask ``scheduler`` to stop instead of killing the process."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        scheduler.request_stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_scheduler(config: Config, config_path: Path, *, database_url: str | None = None) -> None:
    """Run ``config``'s job on its schedule until SIGTERM or SIGINT (the ``dailyfetch schedule`` command)."""
    from dailyfetch.database import EMBEDDED, resolve_database_url, start_embedded
    from dailyfetch.launch import ProcessLauncher
    from dailyfetch.missed import SucceededDatesReader
    from dailyfetch.notify import notify_missed

    health = default_health_file()
    # The child's own grace ([job].stop_grace), plus time to write its last log line.
    child_grace = config.job.stop_grace_seconds
    url, _ = resolve_database_url(database_url, config.database.url)
    if url == EMBEDDED:
        url = start_embedded()  # once, here; the children find it running
    scheduler = Scheduler(
        FireCalendar.from_config(config),
        ProcessLauncher(config_path, database_url=database_url),
        SucceededDatesReader(url, config.job.name, config.job.run_window),
        settings=SchedulerSettings(
            catch_up=config.schedule.catch_up,
            catch_up_days=config.schedule.catch_up_days,
            stop_grace=child_grace + 5.0,
            health_file=health,
        ),
        on_missed=lambda dates: notify_missed(config, dates, config_path),
    )
    with stopped_by_signals(scheduler):
        scheduler.run()
