"""Every log event dailyfetch emits is named in the docs (observability.md, or scheduling.md for schedule.*)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EVENT = re.compile(
    r"\"((?:run|partition|batch|record|database|lease|ledger|notify|schedule|backfill|incremental)\.[a-z_]+)\""
)
NOT_EVENTS = {"database.url", "schedule.health"}  # a config key; the health file's name


def emitted() -> set[str]:
    """Event-like string literals in the package's source."""
    found: set[str] = set()
    for path in (REPO / "src" / "dailyfetch").rglob("*.py"):
        found |= set(EVENT.findall(path.read_text(encoding="utf-8")))
    return found - NOT_EVENTS


def test_every_emitted_event_is_documented() -> None:
    """A new event without a line in the docs fails here, naming it."""
    events = emitted()
    assert {"run.finished", "partition.done", "schedule.fire"} <= events  # the scan finds events at all
    docs = (REPO / "docs" / "observability.md").read_text(encoding="utf-8")
    docs += (REPO / "docs" / "scheduling.md").read_text(encoding="utf-8")
    missing = sorted(e for e in events if f"`{e}`" not in docs)
    assert not missing, f"log events not named in docs/observability.md or docs/scheduling.md: {missing}"
