"""Whether this process is computing or waiting: the signal for how far ahead to fetch pages.

:class:`ProcessLoad` compares the process's CPU time with wall time, against the CPU the
process may use: a container's CPU quota where one is visible (cgroup v2 ``cpu.max`` or v1
``cpu.cfs_quota_us``; a 256-unit Fargate task is allowed 0.25 of a CPU), at most one CPU
(Python code runs on one at a time), else one. A CPU-bound run on a quarter of a CPU then
still counts as busy, though it uses only a quarter of the wall time.
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def cpu_allowance(root: Path = CGROUP) -> float:
    """The CPUs this process may use, at most 1: its cgroup's CPU quota, else 1."""
    quota: float | None = None
    try:
        limit, period = (root / "cpu.max").read_text(encoding="ascii").split()[:2]
        if limit != "max":
            quota = int(limit) / int(period)
    except (OSError, ValueError):
        try:
            limit_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text(encoding="ascii"))
            period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text(encoding="ascii"))
            if limit_us > 0 and period_us > 0:
                quota = limit_us / period_us
        except (OSError, ValueError):
            pass
    return min(1.0, quota) if quota and quota > 0 else 1.0


@cache
def _allowance() -> float:
    return cpu_allowance()


class ProcessLoad:
    """Whether this process has been mostly computing lately (CPU time over wall time, every ``span`` s)."""

    def __init__(self, span: float = 0.2) -> None:
        self.span = span
        self._wall, self._cpu = time.monotonic(), time.process_time()
        self._busy = True  # until measured

    def busy(self) -> bool:
        """True while the process used more than half the CPU it may use over the last span."""
        wall = time.monotonic()
        if wall - self._wall >= self.span:
            cpu = time.process_time()
            self._busy = (cpu - self._cpu) / (wall - self._wall) > 0.5 * _allowance()
            self._wall, self._cpu = wall, cpu
        return self._busy
