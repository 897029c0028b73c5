"""Notifications after a run (failure, recovery, low volume) through apprise URLs.

Placeholder: the implementation lands with issue 6. Notifying never fails a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dailyfetch.config import Config
    from dailyfetch.runner import RunResult


def notify_after_run(config: Config, result: RunResult, *, database_url: str | None) -> None:
    """Send the notifications ``config.notify`` asks for about ``result``; never raises."""
    return None
