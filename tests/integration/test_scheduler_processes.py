"""The scheduler with real child `dailyfetch run` processes, the fake API and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from dailyfetch.fire_times import FireCalendar
from dailyfetch.launch import ProcessLauncher, ProcessRun
from dailyfetch.missed import SucceededDatesReader
from dailyfetch.scheduler import Scheduler, SchedulerSettings
from support.cli import dailyfetch_exe, run_cli
from support.configs import fetch_table, ledger_rows, make_config
from support.fakeapi import FakeAPI, make_records

START = datetime(2026, 11, 5, 0, 0, 30, tzinfo=UTC)
SCHEDULE = '[schedule]\nexpression = "cron(0 0 * * ? *)"\ncatch_up = "all"\ncatch_up_days = 2\n'


class SteppingClock:
    """A fake wall clock that jumps ahead instantly, while each sleep lets real children work for 20 ms."""

    def __init__(self, start: datetime) -> None:
        self.wall = start
        self.mono = 0.0
        self.on_sleep: Callable[[], None] = lambda: None

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds
        time.sleep(0.02)
        self.on_sleep()


class CountingLauncher(ProcessLauncher):
    """The real launcher, remembering which dates it started."""

    def __init__(self, config: Path, database_url: str) -> None:
        super().__init__(config, database_url=database_url)
        self.started: list[date] = []

    def start(self, day: date) -> ProcessRun:
        self.started.append(day)
        return super().start(day)


def run_until(
    scheduler: Scheduler, clock: SteppingClock, done: Callable[[], bool], limit: float = 120
) -> None:
    """Run ``scheduler`` until ``done()`` (checked on every sleep) or ``limit`` real seconds."""
    deadline = time.monotonic() + limit

    def check() -> None:
        if done() or time.monotonic() > deadline:
            scheduler.request_stop("test")

    clock.on_sleep = check
    scheduler.run()
    assert time.monotonic() <= deadline, "the scheduler did not finish in time"


def make_scheduler(config: Path, db_url: str) -> tuple[Scheduler, SteppingClock, CountingLauncher]:
    clock = SteppingClock(START)
    launcher = CountingLauncher(config, db_url)
    settings = SchedulerSettings(
        catch_up="all", catch_up_days=2, poll_seconds=0.5, stop_check_seconds=30, stop_grace=10
    )
    calendar = FireCalendar.parse("cron(0 0 * * ? *)")
    return (
        Scheduler(calendar, launcher, SucceededDatesReader(db_url, "orders"), clock, settings),
        clock,
        launcher,
    )


def test_two_due_fire_times_land_through_child_runs_and_a_restart_repeats_nothing(
    tmp_path: Path, api: FakeAPI, db_url: str
) -> None:
    """Two due dates run in real child processes; rows land, both succeed, and a restart starts no run."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(api.url) + SCHEDULE)
    scheduler, clock, launcher = make_scheduler(config, db_url)
    run_until(scheduler, clock, lambda: len(launcher.started) == 2 and scheduler.idle)
    assert launcher.started == [date(2026, 11, 3), date(2026, 11, 4)]
    succeeded = ledger_rows(
        db_url, "SELECT logical_date, generation FROM dailyfetch.runs WHERE status = 'succeeded' ORDER BY 1"
    )
    assert succeeded == [(date(2026, 11, 3), 1), (date(2026, 11, 4), 1)]
    expected = sorted(
        r["id"] for d in ("2026-11-03", "2026-11-04") for p in ("eu", "us") for r in make_records(d, p, 25)
    )
    assert [row["id"] for row in fetch_table(db_url)] == expected
    requests = len(api.requests)

    again, clock, relaunched = make_scheduler(config, db_url)
    run_until(again, clock, lambda: clock.wall > START + timedelta(minutes=10))
    assert relaunched.started == []
    assert len(api.requests) == requests


@pytest.fixture
def slow_api() -> Iterator[FakeAPI]:
    """A fake API with 2000 records a partition, 10 a page, 50 ms a request: a run takes a minute."""
    server = FakeAPI(records_for=lambda d, p: make_records(d, p, 2000), page_size=10, delay=0.05).start()
    yield server
    server.stop()


def _events(stderr: str) -> list[dict[str, object]]:
    found = []
    for line in stderr.splitlines():
        try:
            found.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return [e for e in found if isinstance(e, dict)]


def test_schedule_command_reports_health_and_stops_a_running_child_on_sigterm(
    tmp_path: Path, slow_api: FakeAPI, db_url: str
) -> None:
    """`dailyfetch schedule` is healthy while it loops; SIGTERM stops its child and it exits 0, logged."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(slow_api.url) + '[schedule]\ncatch_up = "latest"\n')
    health = tmp_path / "health" / "schedule.health"
    env = {**os.environ, "DAILYFETCH_HEALTH_FILE": str(health)}
    scheduler = subprocess.Popen(
        [*dailyfetch_exe(), "schedule", "-c", str(config), "--database-url", db_url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not slow_api.requests:
            time.sleep(0.1)
        assert slow_api.requests, "catch-up did not start a run"
        assert health.exists()
        assert run_cli("schedule", "--health", env={"DAILYFETCH_HEALTH_FILE": str(health)}).returncode == 0
        scheduler.send_signal(signal.SIGTERM)
        _, stderr = scheduler.communicate(timeout=45)
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait()
    assert scheduler.returncode == 0, stderr
    mine = [e for e in _events(stderr) if str(e.get("event", "")).startswith("schedule.")]
    names = [e["event"] for e in mine]
    assert names[:2] == ["schedule.started", "schedule.catch_up"]
    assert names[-3:] == ["schedule.stopping", "schedule.run_finished", "schedule.stopped"]
    assert mine[-1]["reason"] == "SIGTERM"
    child = next(e for e in mine if e["event"] == "schedule.run_started")
    with pytest.raises(ProcessLookupError):
        os.kill(int(str(child["pid"])), 0)
    missing = run_cli("schedule", "--health", env={"DAILYFETCH_HEALTH_FILE": str(tmp_path / "nope")})
    assert missing.returncode == 1 and "does not exist" in missing.stderr
