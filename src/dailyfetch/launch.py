"""Start ``dailyfetch run`` for one logical date in a child process.

The scheduler and ``dailyfetch backfill`` run each date in its own interpreter, so a
crash, a hang or a memory leak in one run cannot take the caller down: the child's
memory is returned to the system when it exits, and the caller only sees an exit
code (0 done, 1 failed, 2 config error, 128 + N: stopped by signal N, negative:
killed by that signal).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dailyfetch.window import format_key

__all__ = ["ProcessLauncher", "ProcessRun", "describe_exit", "run_argv"]


def run_argv(
    config: Path, day: date, *, database_url: str | None = None, force: bool = False, quiet: bool = False
) -> list[str]:
    """The command line of ``dailyfetch run`` for ``day`` (a window key), using this interpreter."""
    argv = [sys.executable, "-m", "dailyfetch", "run", "-c", str(config), "--date", format_key(day)]
    if database_url:
        argv += ["--database-url", database_url]
    if force:
        argv.append("--force")
    if quiet:
        argv.append("--quiet")
    return argv


def describe_exit(code: int) -> str:
    """What a ``dailyfetch run`` exit code means: 'succeeded', 'failed', 'config error' ..."""
    if code == 0:
        return "succeeded"
    if code == 1:
        return "failed"
    if code == 2:
        return "config error"
    import signal

    try:
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        if code > 128:  # the shell convention dailyfetch run follows when a signal stops it
            return f"stopped by {signal.Signals(code - 128).name}"
    except ValueError:
        pass
    return f"exit code {code}"


@dataclass
class ProcessRun:
    """A running child ``dailyfetch run``."""

    logical_date: date
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self.process.poll()

    def terminate(self) -> None:
        """Ask the run to stop (SIGTERM): it commits its batch and exits."""
        if self.process.poll() is None:
            self.process.terminate()

    def kill(self) -> None:
        """Stop the run now (SIGKILL); its committed progress is kept."""
        if self.process.poll() is None:
            self.process.kill()


class ProcessLauncher:
    """Starts ``python -m dailyfetch run -c CONFIG --date D`` children.

    Children inherit stdout and stderr, so their log lines reach the same place as the
    scheduler's, and run in their own session, so a Ctrl-C in the terminal reaches only
    the scheduler, which then stops the child itself (SIGTERM, grace period, SIGKILL).
    """

    def __init__(self, config: Path, *, database_url: str | None = None) -> None:
        self.config = config.resolve()
        self.database_url = database_url

    def start(self, day: date) -> ProcessRun:
        """Start the run for ``day`` and return at once."""
        argv = run_argv(self.config, day, database_url=self.database_url)
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        return ProcessRun(day, process)
