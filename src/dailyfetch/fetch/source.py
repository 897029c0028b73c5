"""What every source produces: pages of records, each with the state to resume after it.

A source is an iterator of :class:`Page`. ``Page.resume`` is the JSON state
that, handed back to the same source, continues right after that page. The
runner commits a batch of pages together with the last page's ``resume`` in one
transaction; that is the whole exactly-once mechanism.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import structlog

Record = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """Records fetched together, and the state that resumes after them."""

    records: Sequence[Record]
    resume: dict[str, Any]
    raw: bytes | None = None  # the body the records are the ``records`` list of, when they are


@dataclass(frozen=True)
class Checkpoint:
    """Yielded by a Python source: every record yielded before it is covered by ``value``.

    On a resumed run the function receives ``value`` as ``ctx.checkpoint`` and
    should continue from there. ``value`` must be JSON-serialisable.
    """

    value: Any


@dataclass
class FetchContext:
    """What a Python source function receives.

    Attributes:
        date: the run's logical date.
        partition: this partition's values (``{"region": "eu"}``), empty when unpartitioned.
        client: a ready :class:`httpx.Client` with timeouts and connection reuse.
        checkpoint: the last committed :class:`Checkpoint` value, ``None`` on a fresh start.
        variables: all run variables (``date`` plus the partition values).
        log: a structlog logger bound to the job and partition.
        since: for incremental jobs, the cursor value to fetch changes since.
    """

    date: date
    partition: dict[str, str]
    client: httpx.Client
    checkpoint: Any = None
    variables: dict[str, Any] = field(default_factory=dict)
    log: Any = field(default_factory=structlog.get_logger)
    since: str | None = None


PageIterator = Iterator[Page]
