"""The local scheduler on a fake clock and a fake launcher: fire times, catch-up, no overlap, stopping, health."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from structlog.testing import capture_logs

from dailyfetch.errors import DatabaseUnavailableError
from dailyfetch.fire_times import FireCalendar, format_fires, logical_date_of
from dailyfetch.missed import select_catch_up
from dailyfetch.schedule_health import check_health
from dailyfetch.scheduler import Scheduler, SchedulerSettings, stopped_by_signals

DAILY = "cron(30 2 * * ? *)"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class FakeClock:
    """Wall and monotonic time that advance instantly; ``suspend`` moves only the wall clock."""

    def __init__(self, start: datetime) -> None:
        self.wall = start
        self.mono = 1000.0
        self.sleeps = 0
        self.on_sleep: Callable[[FakeClock], None] | None = None

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds
        if self.on_sleep is not None:
            self.on_sleep(self)

    def suspend(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)


@dataclass
class FakeRun:
    """A run that ends ``duration`` fake seconds after it starts (or after SIGTERM, ``stop_after``)."""

    logical_date: date
    clock: FakeClock
    duration: float
    exit_code: int = 0
    stop_after: float | None = 3.0
    on_exit: Callable[[FakeRun], None] | None = None
    started: float = field(init=False)
    terminated_at: float | None = None
    killed: bool = False
    reported: bool = False
    pid: int = 4242

    def __post_init__(self) -> None:
        self.started = self.clock.mono

    def poll(self) -> int | None:
        code: int | None = None
        if self.killed:
            code = -9
        elif self.terminated_at is not None and self.stop_after is not None:
            code = -15 if self.clock.mono >= self.terminated_at + self.stop_after else None
        if code is None and self.clock.mono >= self.started + self.duration:
            code = self.exit_code
        if code is not None and not self.reported:
            self.reported = True
            if self.on_exit is not None:
                self.on_exit(self)
        return code

    def terminate(self) -> None:
        self.terminated_at = self.clock.mono

    def kill(self) -> None:
        self.killed = True


@dataclass
class FakeLauncher:
    """Starts FakeRuns; records each launch and the most runs ever alive at once."""

    clock: FakeClock
    duration: float = 600.0
    succeeded: set[date] = field(default_factory=set)
    stop_after: float | None = 3.0
    runs: list[FakeRun] = field(default_factory=list)
    launches: list[tuple[date, datetime]] = field(default_factory=list)
    max_alive: int = 0

    def start(self, day: date) -> FakeRun:
        alive = [r for r in self.runs if r.poll() is None]
        self.max_alive = max(self.max_alive, len(alive) + 1)
        run = FakeRun(day, self.clock, self.duration, stop_after=self.stop_after, on_exit=self._exited)
        self.runs.append(run)
        self.launches.append((day, self.clock.wall))
        return run

    def _exited(self, run: FakeRun) -> None:
        if run.poll() == 0:
            self.succeeded.add(run.logical_date)

    def ledger(self, start: date, end: date) -> set[date]:
        return {d for d in self.succeeded if start <= d <= end}

    @property
    def dates(self) -> list[date]:
        return [day for day, _ in self.launches]


def make_scheduler(
    clock: FakeClock,
    launcher: FakeLauncher,
    *,
    expression: str = DAILY,
    timezone: str = "UTC",
    rule: str = "yesterday",
    until: datetime | None = None,
    **settings: Any,
) -> Scheduler:
    """A scheduler on the fakes that stops itself once the wall clock reaches ``until``."""
    calendar = FireCalendar.parse(expression, timezone, rule)  # type: ignore[arg-type]
    scheduler = Scheduler(
        calendar, launcher, launcher.ledger, clock, SchedulerSettings(**{"catch_up": "none", **settings})
    )
    if until is not None:
        previous = clock.on_sleep
        stopped: list[bool] = []

        def stop_at(c: FakeClock) -> None:
            if previous is not None:
                previous(c)
            if c.wall >= until and not stopped:
                stopped.append(True)
                scheduler.request_stop("test")

        clock.on_sleep = stop_at
    return scheduler


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


def test_runs_each_fire_time_for_its_logical_date_at_that_time() -> None:
    """Three days of a daily cron launch three runs, each at its fire time, for the day before."""
    clock = FakeClock(utc(2026, 11, 1))
    launcher = FakeLauncher(clock)
    make_scheduler(clock, launcher, until=utc(2026, 11, 4)).run()
    assert launcher.launches == [
        (date(2026, 10, 31), utc(2026, 11, 1, 2, 30)),
        (date(2026, 11, 1), utc(2026, 11, 2, 2, 30)),
        (date(2026, 11, 2), utc(2026, 11, 3, 2, 30)),
    ]


def test_fire_times_follow_the_zone_and_the_today_rule() -> None:
    """A 01:00 Tokyo fire is 16:00 UTC the day before, and runs the Tokyo date with logical_date = today."""
    clock = FakeClock(utc(2026, 11, 1))
    launcher = FakeLauncher(clock)
    make_scheduler(
        clock, launcher, expression="cron(0 1 * * ? *)", timezone="Asia/Tokyo", rule="today",
        until=utc(2026, 11, 2, 17),
    ).run()  # fmt: skip
    assert launcher.launches == [
        (date(2026, 11, 2), utc(2026, 11, 1, 16)),
        (date(2026, 11, 3), utc(2026, 11, 2, 16)),
    ]


def test_logical_date_of_a_fire_time_is_its_local_date_or_the_day_before() -> None:
    """The one mapping: the fire's local date for 'today', the day before for 'yesterday', across DST."""
    new_york = ZoneInfo("America/New_York")
    second_one_am = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 01:00 EST, after the clocks fell back
    assert logical_date_of(second_one_am, new_york, "today") == date(2026, 11, 1)
    assert logical_date_of(second_one_am, new_york, "yesterday") == date(2026, 10, 31)
    late_utc = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    assert logical_date_of(late_utc, ZoneInfo("Asia/Tokyo"), "today") == date(2026, 11, 2)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("all", [date(2026, 11, 3), date(2026, 11, 4)]), ("latest", [date(2026, 11, 4)]), ("none", [])],
)
def test_catch_up_on_start_follows_the_policy(policy: str, expected: list[date]) -> None:
    """On start, 'all' runs every missed date oldest first, 'latest' only the newest, 'none' nothing."""
    clock = FakeClock(utc(2026, 11, 5, 12))
    launcher = FakeLauncher(clock, succeeded={date(2026, 11, 2)})
    with capture_logs() as logs:
        make_scheduler(clock, launcher, catch_up=policy, catch_up_days=3, until=utc(2026, 11, 5, 13)).run()
    assert launcher.dates == expected
    assert launcher.max_alive <= 1
    (catch_up,) = events(logs, "schedule.catch_up")
    assert catch_up["reason"] == "start"
    assert catch_up["missed"] == ["2026-11-03", "2026-11-04"]


def test_a_restart_does_not_repeat_dates_that_succeeded() -> None:
    """Catch-up skips every date the ledger holds as succeeded, so a restart runs nothing again."""
    clock = FakeClock(utc(2026, 11, 5, 12))
    done = {date(2026, 11, 4) - timedelta(days=n) for n in range(7)}
    launcher = FakeLauncher(clock, succeeded=set(done))
    make_scheduler(clock, launcher, catch_up="all", until=utc(2026, 11, 5, 13)).run()
    assert launcher.launches == []


@pytest.mark.parametrize(
    ("policy", "after_wake"),
    [
        ("all", [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]),
        ("latest", [date(2026, 11, 3)]),
        ("none", []),
    ],
)
def test_wall_clock_jump_of_three_days_catches_up_once(policy: str, after_wake: list[date]) -> None:
    """A 3-day sleep is detected (wall vs monotonic), missed dates run per policy, then fires resume."""
    clock = FakeClock(utc(2026, 11, 1))
    launcher = FakeLauncher(clock, succeeded={date(2026, 10, 30) - timedelta(days=n) for n in range(7)})
    slept = False

    def sleep_at_noon(c: FakeClock) -> None:
        nonlocal slept
        if not slept and c.wall >= utc(2026, 11, 1, 12):
            slept = True
            c.suspend(3 * 86400)

    clock.on_sleep = sleep_at_noon
    with capture_logs() as logs:
        make_scheduler(clock, launcher, catch_up=policy, until=utc(2026, 11, 5, 3)).run()
    assert launcher.dates == [date(2026, 10, 31), *after_wake, date(2026, 11, 4)]
    (woke,) = events(logs, "schedule.woke")
    assert woke["slept_seconds"] >= 3 * 86400 - 60
    assert [e["reason"] for e in events(logs, "schedule.catch_up")] == ["start", "wake"]
    assert launcher.max_alive == 1


def test_a_date_due_during_a_run_waits_for_it_and_is_logged_as_deferred() -> None:
    """Runs of 30 h never overlap: the next date starts when the previous ends, and the log says so."""
    clock = FakeClock(utc(2026, 11, 1))
    launcher = FakeLauncher(clock, duration=30 * 3600)
    with capture_logs() as logs:
        make_scheduler(clock, launcher, until=utc(2026, 11, 3, 12)).run()
    assert launcher.max_alive == 1
    first, second = launcher.launches[:2]
    assert first == (date(2026, 10, 31), utc(2026, 11, 1, 2, 30))
    assert second[0] == date(2026, 11, 1)
    assert utc(2026, 11, 2, 8, 30) <= second[1] <= utc(2026, 11, 2, 8, 30, 1)
    deferred = events(logs, "schedule.deferred")
    assert deferred[0] == {**deferred[0], "date": "2026-11-01", "waiting_for": "2026-10-31"}
    started = events(logs, "schedule.run_started")[1]
    assert started["date"] == "2026-11-01" and started["waited_seconds"] == pytest.approx(6 * 3600, abs=1)


def test_the_date_already_running_is_not_started_twice() -> None:
    """Hourly fires for today's date while it runs are skipped; the date starts again only after it ended."""
    clock = FakeClock(utc(2026, 11, 1, 8))
    launcher = FakeLauncher(clock, duration=3.5 * 3600)
    with capture_logs() as logs:
        make_scheduler(
            clock, launcher, expression="rate(1 hour)", rule="today", until=utc(2026, 11, 1, 13, 30)
        ).run()
    assert [when for _, when in launcher.launches] == [utc(2026, 11, 1, 9), utc(2026, 11, 1, 13)]
    skipped = events(logs, "schedule.skipped")
    assert len(skipped) == 3 and all(e["reason"] == "that date is already running" for e in skipped)


def test_stop_sends_sigterm_and_waits_for_the_run_to_finish() -> None:
    """A stop during a run terminates the child, waits for it within the grace, and logs the exit."""
    clock = FakeClock(utc(2026, 11, 1, 2))
    launcher = FakeLauncher(clock, duration=3600, stop_after=3.0)
    with capture_logs() as logs:
        make_scheduler(clock, launcher, until=utc(2026, 11, 1, 2, 40)).run()
    (run,) = launcher.runs
    assert run.terminated_at is not None and not run.killed
    names = [e["event"] for e in logs]
    assert names[-3:] == ["schedule.stopping", "schedule.run_finished", "schedule.stopped"]
    assert events(logs, "schedule.run_finished")[0]["outcome"] == "killed by SIGTERM"
    assert events(logs, "schedule.stopped")[0]["reason"] == "test"


def test_stop_kills_a_run_that_ignores_sigterm_after_the_grace_period() -> None:
    """A child still alive stop_grace seconds after SIGTERM gets SIGKILL."""
    clock = FakeClock(utc(2026, 11, 1, 2))
    launcher = FakeLauncher(clock, duration=3600, stop_after=None)
    with capture_logs() as logs:
        make_scheduler(clock, launcher, stop_grace=25.0, until=utc(2026, 11, 1, 2, 40)).run()
    (run,) = launcher.runs
    assert run.killed and run.terminated_at is not None
    (killed,) = events(logs, "schedule.killed")
    assert killed["after_seconds"] == pytest.approx(25.0, abs=0.2)


def test_sigterm_to_the_process_stops_the_loop_cleanly() -> None:
    """A real SIGTERM inside stopped_by_signals asks the scheduler to stop instead of killing pytest."""
    clock = FakeClock(utc(2026, 11, 1))
    launcher = FakeLauncher(clock)
    scheduler = make_scheduler(clock, launcher)
    clock.on_sleep = lambda c: os.kill(os.getpid(), signal.SIGTERM) if c.wall >= utc(2026, 11, 1, 1) else None
    with capture_logs() as logs, stopped_by_signals(scheduler):
        scheduler.run()
    assert events(logs, "schedule.stopped")[0]["reason"] == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_catch_up_is_retried_when_the_ledger_is_unreachable() -> None:
    """A database error during catch-up is logged and catch-up runs again on the next loop."""
    clock = FakeClock(utc(2026, 11, 5, 12))
    launcher = FakeLauncher(clock)
    calls = 0

    def flaky(start: date, end: date) -> set[date]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise DatabaseUnavailableError("cannot connect to PostgreSQL")
        return set()

    scheduler = make_scheduler(clock, launcher, catch_up="latest", until=utc(2026, 11, 5, 12, 5))
    scheduler.succeeded = flaky
    with capture_logs() as logs:
        scheduler.run()
    assert len(events(logs, "schedule.catch_up_failed")) == 1
    assert launcher.dates == [date(2026, 11, 4)]


def test_health_file_is_touched_each_loop_and_judged_by_its_age(tmp_path: Path) -> None:
    """The loop touches the health file; --health passes within 120 s of it and fails after or without it."""
    health = tmp_path / "sub" / "schedule.health"
    assert check_health(health)[0] is False
    clock = FakeClock(utc(2026, 11, 1))
    make_scheduler(clock, FakeLauncher(clock), health_file=health, until=utc(2026, 11, 1, 0, 5)).run()
    touched = health.stat().st_mtime
    assert check_health(health, now=touched + 119) == (True, "healthy: the scheduler looped 119 s ago")
    ok, message = check_health(health, now=touched + 121)
    assert not ok and message.startswith("unhealthy: the scheduler last looped 121 s ago")


def test_select_catch_up_policies() -> None:
    """'all' is every unsucceeded date sorted, 'latest' the newest date only if it is missing."""
    days = [date(2026, 11, d) for d in (1, 2, 3)]
    assert select_catch_up(days, {days[1]}, "all") == [days[0], days[2]]
    assert select_catch_up(days, {days[1]}, "latest") == [days[2]]
    assert select_catch_up(days, {days[2]}, "latest") == []
    assert select_catch_up(days, set(), "none") == []


def test_rate_lattice_extends_back_before_its_anchor() -> None:
    """A rate() schedule anchored at 12:00 has fires at 00:00, 06:00 ... earlier, so catch-up sees them."""
    calendar = FireCalendar.parse("rate(6 hours)").anchored(utc(2026, 11, 2, 12))
    assert calendar.between(utc(2026, 11, 1, 1), utc(2026, 11, 2)) == [
        utc(2026, 11, 1, h) for h in (6, 12, 18)
    ]
    assert calendar.scheduled_dates(utc(2026, 11, 1), utc(2026, 11, 2, 13)) == [
        date(2026, 10, 31),
        date(2026, 11, 1),
    ]


def test_format_fires_json_is_iso_8601_with_offsets() -> None:
    """`next --json` prints ISO 8601 times with the zone's offset, across the New York fall-back."""
    calendar = FireCalendar.parse("cron(0 1 * * ? *)", "America/New_York")
    text = format_fires(calendar, utc(2026, 10, 31, 4), 3, as_json=True)
    assert orjson.loads(text) == [
        "2026-10-31T01:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-02T01:00:00-05:00",
    ]


def test_an_unexpected_error_in_the_loop_still_stops_the_running_child() -> None:
    """If the loop raises, the running child is terminated and schedule.stopped names the error."""
    clock = FakeClock(utc(2026, 11, 1, 2))
    launcher = FakeLauncher(clock, duration=3600)
    scheduler = make_scheduler(clock, launcher)

    raised: list[bool] = []

    def explode(c: FakeClock) -> None:
        if c.wall >= utc(2026, 11, 1, 2, 40) and not raised:
            raised.append(True)
            raise RuntimeError("boom")

    clock.on_sleep = explode
    with capture_logs() as logs, pytest.raises(RuntimeError):
        scheduler.run()
    assert launcher.runs[0].terminated_at is not None
    assert events(logs, "schedule.stopped")[0]["reason"] == "RuntimeError: boom"
