"""The scheduler's health signal: a file it touches on every loop, and the check Docker runs.

``dailyfetch schedule`` touches the file at least every :data:`LOOP_SECONDS`;
``dailyfetch schedule --health`` exits 0 when it was touched within
:data:`HEALTH_MAX_AGE` (two loops), else 1, so a container HEALTHCHECK sees a hung
or dead scheduler. The path is ``$DAILYFETCH_HEALTH_FILE`` in both processes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["HEALTH_MAX_AGE", "LOOP_SECONDS", "check_health", "default_health_file", "touch_health_file"]

LOOP_SECONDS = 60.0
HEALTH_MAX_AGE = 2 * LOOP_SECONDS


def default_health_file() -> Path:
    """``$DAILYFETCH_HEALTH_FILE``, else ``schedule.health`` in the dailyfetch data directory.

    The data directory is ``$DAILYFETCH_HOME`` or the platform's user data directory
    (``~/.local/share/dailyfetch`` on Linux), the same place the embedded PostgreSQL uses.
    """
    chosen = os.environ.get("DAILYFETCH_HEALTH_FILE")
    if chosen:
        return Path(chosen)
    home = os.environ.get("DAILYFETCH_HOME")
    if home:
        return Path(home) / "schedule.health"
    import platformdirs

    return Path(platformdirs.user_data_dir("dailyfetch")) / "schedule.health"


def check_health(
    path: Path | None = None, *, max_age: float = HEALTH_MAX_AGE, now: float | None = None
) -> tuple[bool, str]:
    """Whether the scheduler touched ``path`` in the last ``max_age`` seconds, and a one-line reason."""
    path = path or default_health_file()
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return (
            False,
            f"unhealthy: {path} does not exist (is 'dailyfetch schedule' running with the same DAILYFETCH_HEALTH_FILE?)",
        )
    except OSError as exc:
        return False, f"unhealthy: cannot read {path}: {exc}"
    if age > max_age:
        return (
            False,
            f"unhealthy: the scheduler last looped {age:.0f} s ago (limit {max_age:.0f} s); see its log",
        )
    return True, f"healthy: the scheduler looped {max(age, 0):.0f} s ago"


def touch_health_file(path: Path) -> None:
    """Create ``path`` (and its folder) or set its modification time to now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path)
