"""``dailyfetch run --workers N``: N worker processes in one process group share one run.

Each child is an ordinary ``dailyfetch run`` for the same job and logical date;
they share the run's partitions through ledger claims, exactly as separate ECS
tasks (``task_count``) do. The parent resolves the logical date once (so all
children agree even across midnight), starts a new generation itself when
``--force`` is given, forwards SIGTERM/SIGINT to the children, and exits with
the worst child exit code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType


def run_workers(arguments: Sequence[str], workers: int) -> int:
    """Start ``workers`` children running ``dailyfetch <arguments>``; wait; return the worst exit code."""
    argv = [sys.executable, "-m", "dailyfetch", *arguments]
    # The children share this container's memory: each takes a workers-th of the read-ahead budget
    # (dailyfetch.fetch.budget.SHARE_ENV).
    env = {**os.environ, "DAILYFETCH_MEMORY_SHARE": str(workers)}
    children = [subprocess.Popen(argv, env=env) for _ in range(workers)]

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    codes = [128 - c if c < 0 else c for c in codes]  # killed by signal N: 128 + N, as a shell reports it
    failures = [c for c in codes if c != 0]
    if not failures:
        return 0
    return 1 if 1 in failures else max(failures, key=lambda c: (c > 0, c))
