"""The page-ahead window's signal: CPU time over wall time, against the container's CPU quota."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dailyfetch.fetch import process_load
from dailyfetch.fetch.process_load import ProcessLoad, cpu_allowance


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "25000 100000\n"}, 0.25),  # cgroup v2: a 256-unit Fargate task
        ({"cpu.max": "max 100000\n"}, 1.0),  # v2, no limit
        ({"cpu.max": "400000 100000\n"}, 1.0),  # four CPUs: Python code runs on one at a time
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),  # cgroup v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1.0),  # v1, no limit
        ({"cpu.max": "garbage\n"}, 1.0),
        ({}, 1.0),  # not Linux, or no cgroup visible
    ],
)
def test_cpu_allowance(tmp_path: Path, files: dict[str, str], expected: float) -> None:
    """The quota a container's cgroup sets, in CPUs, capped at 1; 1 when none is readable."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="ascii")
    assert cpu_allowance(tmp_path) == pytest.approx(expected)


def test_busy_while_computing_not_while_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spinning for a span counts as busy, sleeping for a span does not, against the allowance.

    An allowance of 0.2 CPU (as in a small container) keeps the spinning span busy even
    when a loaded test machine gives this process only part of a CPU meanwhile.
    """
    monkeypatch.setattr(process_load, "_allowance", lambda: 0.2)
    load = ProcessLoad(span=0.1)
    assert load.busy()  # until measured
    until = time.process_time() + 0.15
    while time.process_time() < until:
        pass
    assert load.busy()
    monkeypatch.setattr(process_load, "_allowance", lambda: 1.0)
    time.sleep(0.15)
    assert not load.busy()


def test_a_quarter_cpu_is_busy_only_where_a_quarter_cpu_is_all_there_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """About 30% of a CPU: waiting on a machine with a CPU to spare, busy in a 0.25-CPU container."""

    def a_third_busy(load: ProcessLoad) -> bool:
        load.busy()  # a new span starts
        for _ in range(2):
            until = time.process_time() + 0.03
            while time.process_time() < until:
                pass
            time.sleep(0.07)
        return load.busy()

    monkeypatch.setattr(process_load, "_allowance", lambda: 1.0)
    assert not a_third_busy(ProcessLoad(span=0.1))
    monkeypatch.setattr(process_load, "_allowance", lambda: 0.25)
    assert a_third_busy(ProcessLoad(span=0.1))
