"""Pages that repeat, and partitions that never end: both fail the partition, naming the page.

An API may loop: ignore the page or offset parameter (every page is the first), or hand out
cursors or next URLs that cycle (A, B, A, ...). Unchecked, such a partition runs forever, and in
append mode every repeated page appends its records again. :class:`PageGuard` watches one attempt
at a partition and fails it when

* a page's body is one seen before in the attempt: the same length, and the same first and last
  4 KiB (where the records that start and end a page are: a 64-bit hash of them is kept, a few
  dozen bytes a page, and costs about 2 microseconds whatever the page's size);
* a page's records equal the previous page's (compared at five evenly spaced places, and by
  count): an API that ignores the page parameter but stamps each answer with a request id or a
  time is caught on its second page, not only at the page limit;
* a next cursor or URL is one already requested in the attempt: it is named, and not asked for;
* the attempt has fetched ``[source] page_limit`` pages and the API names another one. That
  bound fails; it never truncates. (``max_pages``, a cap the user chose, ends quietly.)

A repeated page is not loaded. A page whose *next* page is a cycle, or the last page within the
limit, is new: it is loaded, and the error is raised instead of requesting the page after it.

Pages with no records are not compared: an empty list may legitimately come back again and
again, each time with a new cursor. A resumed attempt starts with the digest of the last page
committed before it (``previous_page`` in the progress: its length and a CRC-32 of the same
edges), so a rerun finds a repeat at its first page instead of appending it once more.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import httpx

from dailyfetch.config import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    OffsetPagination,
    PageNumberPagination,
)
from dailyfetch.errors import SourceError
from dailyfetch.fetch.pagination import PaginationConfig, State
from dailyfetch.fetch.shape import RecordShape, TypedRecords
from dailyfetch.redact import mask_url, redact

PREVIOUS = "previous_page"  # the progress key holding the digest of the page before it
_EDGE = 4096


class PageGuard:
    """The pages of one attempt at a partition: repeats and the page limit fail it."""

    def __init__(self, config: PaginationConfig, limit: int, resume: State | None) -> None:
        self.config = config
        self.limit = limit
        self.count = 0  # pages checked in this attempt
        self._bodies: dict[int, int] = {}  # hash of (body hash, length) -> page number in the attempt
        self._requested: dict[int, int] = {}  # hash of a cursor or URL -> page number
        self._sample: _Sample | None = None  # the previous page's
        self._committed = resume.get(PREVIOUS) if resume else None

    def check_page(self, state: State, response: httpx.Response, records: Sequence[Any]) -> str | None:
        """Check one page, in order; return its digest for the progress (``None`` for an empty page)."""
        self.count += 1
        here = self.count
        self._note_request(state, response, here)
        if not records or not response.content:
            return None
        content = response.content
        edges = content if len(content) <= 2 * _EDGE else content[:_EDGE] + content[-_EDGE:]
        digest = f"{len(content)}:{zlib.crc32(edges):08x}"
        if here == 1 and digest == self._committed:
            self._fail(state, "has the same body as the last page committed before this attempt")
        first = self._bodies.setdefault(hash((len(content), hash(edges))), here)
        if first != here:
            self._fail(state, f"has the same body as page {first} of this attempt")
        count = len(records)
        shape = records.shape if isinstance(records, TypedRecords) else None
        rows = records.rows if isinstance(records, TypedRecords) else records  # structs compare as they are
        sample = (
            count,
            shape,
            [rows[i] for i in sorted({0, count // 4, count // 2, 3 * count // 4, count - 1})],
        )
        if self._sample is not None and _same(self._sample, sample):
            self._fail(state, f"has the same records as the page before it (page {here - 1} of this attempt)")
        self._sample = sample
        return digest

    def check_next(self, state: State, following: State) -> SourceError | None:
        """The error to fail with instead of requesting ``following``, the page after ``state``: it
        was requested before in this attempt, or it is one past the page limit. The page at ``state``
        itself is new, so it is kept (yielded) before the error is raised."""
        seen = self._requested.get(_request_key(following))
        if seen is not None:
            return self._error(
                state,
                f"names as its next page {_describe(self.config, following)}, already requested as page {seen}",
            )
        if self.count >= self.limit:
            return SourceError(
                f"pagination: {self.count} pages in this attempt and the API names another "
                f"({_describe(self.config, following)}): [source] page_limit = {self.limit} was reached",
                hint="raise [source] page_limit if the partition really has more pages; the pages fetched "
                "are committed and a rerun resumes after them",
            )
        return None

    def _note_request(self, state: State, response: httpx.Response, here: int) -> None:
        if isinstance(self.config, CursorPagination | NextUrlPagination | LinkHeaderPagination):
            self._requested.setdefault(_request_key(state), here)
            if isinstance(self.config, NextUrlPagination | LinkHeaderPagination):
                self._requested.setdefault(_request_key({"url": str(response.request.url)}), here)

    def _fail(self, state: State, what: str) -> None:
        raise self._error(state, what)

    def _error(self, state: State, what: str) -> SourceError:
        return SourceError(
            f"pagination loops: the page at {_describe(self.config, state)} (page {self.count} of this "
            f"attempt) {what}; the API ignores its paging parameter or serves a cycle",
            hint="check [source.pagination]; the pages committed before it are kept",
        )


_Sample = tuple[int, RecordShape | None, list[Any]]  # count, shape of typed rows (or None: dicts), rows


def _same(a: _Sample, b: _Sample) -> bool:
    """Whether two pages' samples hold the same records (typed rows and dicts alike)."""
    if a[0] != b[0]:
        return False
    if a[1] is b[1]:
        return a[2] == b[2]
    return _dicts(a) == _dicts(b)  # one page typed and the other not, or two shapes: rare


def _dicts(sample: _Sample) -> list[Any]:
    shape = sample[1]
    return sample[2] if shape is None else [shape.as_dict(row) for row in sample[2]]


def _request_key(state: State) -> int:
    if "url" in state:
        return hash(("url", str(state["url"])))
    return hash(("cursor", None if state.get("cursor") is None else str(state["cursor"])))


def _describe(config: PaginationConfig, state: State) -> str:
    """The request a state stands for, as a user would recognise it (secrets masked)."""
    if isinstance(config, PageNumberPagination):
        return f"{config.param}={state['page']}"
    if isinstance(config, OffsetPagination):
        return f"{config.param}={state['offset']}"
    if "url" in state:
        return mask_url(str(state["url"]))
    if isinstance(config, CursorPagination) and state.get("cursor") is not None:
        shown = redact(str(state["cursor"]))
        return f"{config.param} {shown[:80]!r}"
    return "the first page"
