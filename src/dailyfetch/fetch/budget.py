"""The memory pages fetched ahead may take: a byte budget that follows the container's limit.

With ``[source] concurrency`` pages in flight, and up to twice that queued ahead, memory would
grow with concurrency times page size: 5.5 MB pages at concurrency 16 are gigabytes once decoded,
far past a 512 MiB Fargate task. So every page of a run is reckoned against one
:class:`PageBudget`: a request is sent only when its page fits beside the pages already fetched
and not yet consumed, except that a fetcher holding no page may always fetch one (so a partition
always progresses, and a page that fits in memory once is always fetched, alone).

* **The budget** is a quarter of the memory limit (:func:`read_ahead_budget`): the tightest of the
  cgroup v2 ``memory.max``, the cgroup v1 ``memory.limit_in_bytes`` (of the process's cgroup and
  its ancestors, wherever the hierarchies are mounted: ``/sys/fs/cgroup``, or
  ``/sys/fs/cgroup/unified`` and ``/sys/fs/cgroup/memory`` on hybrid hosts) and the machine's
  RAM. The rest is for the interpreter, the batch being written and PostgreSQL's driver. The
  worker processes of ``run --workers N`` share one container, so each takes a Nth of that.
* **A page's cost** is its body's length times what decoding makes of it (:func:`page_cost`):
  measured 5.4 to 5.8 times the JSON for dicts of short values (the body is kept besides), about
  2 times for typed pages (``fetch/shape.py``).
* **Until a page of the run has arrived**, a request is reckoned at the whole budget where the
  budget is under :data:`BLIND_BUDGET` (1 GiB: a container of less than 4 GiB), so the first
  request goes alone (one page's latency, once a run): a first wave sent blind could hold a
  window of pages that each only just fit alone. With a larger budget a request is reckoned at
  :data:`UNKNOWN_PAGE` (64 MiB) until then, and the first window goes at once. From the first
  page on, the largest page seen sets how many may be ahead.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dailyfetch.stopping import StopToken

MiB = 1024 * 1024
SHARE_ENV = "DAILYFETCH_MEMORY_SHARE"  # set by `run --workers N` for its children: they split the budget
UNKNOWN_PAGE = 64 * MiB
BLIND_BUDGET = 16 * UNKNOWN_PAGE
GENERAL_FACTOR = 7  # the body, and the dicts, strings and numbers decoded from it
TYPED_FACTOR = 3  # the body, and one small struct per record
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as 2**63 - 4096 (PAGE_COUNTER_MAX)
_NO_LIMIT_BUDGET = 1024 * MiB  # where no limit can be read at all (not Linux)
_SMALLEST_BUDGET = 16 * MiB


def memory_limit(root: Path = Path("/")) -> int | None:
    """The memory this process may use, in bytes: the tightest cgroup (v1 or v2) limit on it and
    its ancestors, and the machine's RAM; ``None`` if none can be read. ``root`` is where the
    filesystem is (a test passes a folder holding ``proc/self/...`` and ``sys/fs/cgroup/...``)."""
    limits = [*_cgroup_limits(root), *filter(None, [_ram(root)])]
    return min(limits) if limits else None


@functools.cache
def process_memory_limit() -> int | None:
    """:func:`memory_limit` of this process, read once."""
    return memory_limit()


def read_ahead_budget(limit: int | None, share: int = 1) -> int:
    """The bytes pages fetched and not yet consumed may take under a memory ``limit``, in one of
    ``share`` processes that split it (``run --workers N`` in one container)."""
    if limit is None:
        return _NO_LIMIT_BUDGET // share
    return max(limit // 4 // share, _SMALLEST_BUDGET)


def page_cost(body_bytes: int, *, typed: bool) -> int:
    """What a page of ``body_bytes`` takes in memory once decoded (typed or as dicts)."""
    return body_bytes * (TYPED_FACTOR if typed else GENERAL_FACTOR)


@dataclass
class Ticket:
    """The bytes reserved for one page, from its request until it has been consumed."""

    amount: int
    released: bool = False


class PageBudget:
    """Bytes of pages requested and not yet consumed, shared by every fetch of a run."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.reserved = 0
        self.largest: int | None = None  # the largest page cost seen: the estimate of the next
        self.peak = 0  # the most bytes reserved at once
        self.peak_pages = 0  # the most pages reserved at once
        self._pages = 0
        self._ready = threading.Condition()

    @classmethod
    def for_this_process(cls) -> PageBudget:
        """A budget from this process's memory limit (:func:`process_memory_limit`), split with the
        other worker processes of ``run --workers N`` (:data:`SHARE_ENV`)."""
        share = os.environ.get(SHARE_ENV, "")
        return cls(
            read_ahead_budget(process_memory_limit(), int(share) if share.isdigit() and share != "0" else 1)
        )

    def estimate(self) -> int:
        """What the next page is reckoned at."""
        if self.largest is not None:
            return self.largest
        return UNKNOWN_PAGE if self.total >= BLIND_BUDGET else self.total

    def try_reserve(self) -> Ticket | None:
        """Reserve the next page's estimate if it fits beside those reserved; ``None`` if not."""
        with self._ready:
            return self._take()

    def reserve(self, stop: StopToken) -> Ticket:
        """Reserve the next page's estimate, waiting while others hold the budget. For a fetcher that
        holds no page: it never waits for itself, and nothing is reserved it must release first."""
        with self._ready:
            while True:
                ticket = self._take()
                if ticket is not None:
                    return ticket
                stop.check()
                self._ready.wait(0.1)

    def force_reserve(self) -> Ticket:
        """Reserve the next page's estimate even past the budget (a fetch that cannot wait for the
        pages its own caller holds)."""
        with self._ready:
            ticket = self._take(force=True)
            assert ticket is not None
            return ticket

    def _take(self, *, force: bool = False) -> Ticket | None:
        amount = self.estimate()
        if self.reserved and self.reserved + amount > self.total and not force:
            return None  # alone, a page is always allowed: it must fit in memory once anyway
        self.reserved += amount
        self._pages += 1
        self.peak = max(self.peak, self.reserved)
        self.peak_pages = max(self.peak_pages, self._pages)
        return Ticket(amount)

    def settle(self, ticket: Ticket, cost: int) -> None:
        """The page of ``ticket`` has arrived and takes ``cost`` bytes: reckon that instead."""
        with self._ready:
            self.largest = cost if self.largest is None else max(self.largest, cost)
            if not ticket.released:
                self.reserved += cost - ticket.amount
                self.peak = max(self.peak, self.reserved)
                ticket.amount = cost
            self._ready.notify_all()

    def release(self, ticket: Ticket) -> None:
        """The page of ``ticket`` was consumed, or will never be (idempotent)."""
        with self._ready:
            if not ticket.released:
                ticket.released = True
                self.reserved -= ticket.amount
                self._pages -= 1
                self._ready.notify_all()


def _cgroup_limits(root: Path) -> list[int]:
    """The memory limits of this process's cgroups, v1 and v2, up to each hierarchy's root."""
    memberships = _read(root / "proc/self/cgroup")
    mounts = _read(root / "proc/self/mountinfo")
    if memberships is None or mounts is None:
        return []
    limits: list[int] = []
    for line in memberships.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            found = _mounts(mounts, lambda fstype, options: fstype == "cgroup2")
            names = ("memory.max",)
        elif "memory" in controllers.split(","):
            found = _mounts(mounts, lambda fstype, options: fstype == "cgroup" and "memory" in options)
            names = ("memory.limit_in_bytes",)
        else:
            continue
        for mount_root, mount_point in found:
            limits += _limits_up_from(root, mount_root, mount_point, path, names)
    return limits


def _mounts(mountinfo: str, wanted: Callable[[str, set[str]], bool]) -> list[tuple[str, str]]:
    """``(root within the hierarchy, mount point)`` of the mounts whose type and options match."""
    found = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        options = set(tail[2].split(","))
        if wanted(tail[0], options):
            found.append((_unescape(fields[3]), _unescape(fields[4])))
    return found


def _limits_up_from(
    root: Path, mount_root: str, mount_point: str, path: str, names: tuple[str, ...]
) -> list[int]:
    """The limits in the process's cgroup folder and each one above it, up to the mount point."""
    base = root / mount_point.lstrip("/")
    relative = path
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root.rstrip("/") + "/")):
        relative = path[len(mount_root) :]
    folder = base / relative.strip("/")
    if not folder.is_dir():
        folder = base  # a cgroup namespace (the container's own cgroup is the mount's root)
    limits = []
    while True:
        for name in names:
            value = _limit(folder / name)
            if value is not None:
                limits.append(value)
        if folder == base or base not in folder.parents:
            return limits
        folder = folder.parent


def _limit(file: Path) -> int | None:
    text = _read(file)
    if text is None or not text.strip().isdigit():
        return None  # "max", absent, unreadable
    value = int(text.strip())
    return value if 0 < value < _UNLIMITED else None


def _ram(root: Path) -> int | None:
    text = _read(root / "proc/meminfo")
    for line in (text or "").splitlines():
        if line.startswith("MemTotal:"):
            kib = line.split()[1]
            return int(kib) * 1024 if kib.isdigit() else None
    return None


def _read(file: Path) -> str | None:
    try:
        return file.read_text()
    except OSError:
        return None


def _unescape(field: str) -> str:
    """mountinfo writes spaces, tabs, newlines and backslashes in paths as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field
