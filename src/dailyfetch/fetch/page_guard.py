"""Pages that repeat, and partitions that never end: both fail the partition, naming the page.

An API may loop: ignore the page or offset parameter (every page is the first, perhaps in a new
order or under a new request id), or hand out cursors or next URLs that cycle (A, B, A, ...), each
perhaps with a fresh nonce. Unchecked, such a partition runs forever, and in append mode every
repeated page appends its records again. :class:`PageGuard` watches one attempt at a partition
and fails it when

* a page's records are, as a multiset, those of a page seen before in the attempt: in any order,
  under any envelope (a request id, a time, a fresh next cursor). The fingerprint is the count of
  records and the sum, modulo 2**64, of a 64-bit hash of each record's JSON text as the API sent
  it (every field and value; SipHash-1-3, Python's bytes hash, keyed per process: the fingerprint
  is compared within one attempt only, never stored). Two pages of different records share a
  fingerprint with odds of about 2**-64 a pair: at most P**2 / 2**65 over an attempt of P pages
  (under 3e-10 at the default page_limit of 100,000, about 1e-15 at 200 pages). So a change feed
  whose page repeats the ids of an earlier one with other values is new; a record sent again with
  other spacing or key order counts as another (a loop is then caught by its cursor or URL, or
  at page_limit). A page whose body repeats an earlier one's repeats its records too.

  Hashing every record costs about 0.25 ms for a 290 KB page of 1,000 records (benchmarks' W1
  page): a quarter of what loading it costs. With a primary key (``[destination] primary_key``)
  each page's *keys* are fingerprinted instead (their multiset, about 0.02 ms), and only a page
  whose keys an earlier page had (and the first page) has its records fingerprinted, together
  with the page before it if that one had the same keys. A page repeating the first page or the
  one before it (an API ignoring its page parameter, or repeating its last page) is so caught at
  once; one repeating another earlier page (a cycle of three or more pages) at the cycle's second
  turn, its first turn re-upserting keys already written;
* a next cursor or URL is one already requested in the attempt: it is named, and not asked for;
* the attempt has fetched ``[source] page_limit`` pages and the API names another one. That
  bound fails; it never truncates. (``max_pages``, a cap the user chose, ends quietly.)

The fingerprints are made by :meth:`PageGuard.measure` where the page was fetched (the read-ahead
threads), whether it is decoded typed or not. A body whose records are not a JSON list at the
records path (one object as the body, or a path that indexes a list) has its records hashed as
values instead (orjson, sorted keys).

A page of records that are all the same and carry no id (``[A] * 8``) sent twice is a repeat too:
an events API may legitimately do so, but it cannot be told from one that ignores its page
parameter. The error says so and names the way out, ``[source] repeated_pages = "allow"``: pages
whose body or records repeat are then loaded, and only cursor or URL cycles and page_limit bound
the partition.

A repeated page is not loaded. A page whose *next* page is a cycle, or the last page within the
limit, is new: it is loaded, and the error is raised instead of requesting the page after it.

Pages with no records are not compared: an empty list may legitimately come back again and
again, each time with a new cursor. A resumed attempt starts with the digest of the last page
committed before it (``previous_page`` in the progress: ``c32:<length>:<CRC-32>`` of the whole
body, about 0.03 ms for a 290 KB page, the same in every process; one comparison, so 32 bits
do), so a rerun finds a repeat at its first page instead of appending it once
more. A digest of an earlier form never equals one and is ignored.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache
from itertools import repeat
from typing import Any, Literal, NamedTuple

import httpx
import msgspec
import orjson

from dailyfetch import jsontext
from dailyfetch.config import (
    CursorPagination,
    LinkHeaderPagination,
    NextUrlPagination,
    OffsetPagination,
    PageNumberPagination,
)
from dailyfetch.errors import SourceError
from dailyfetch.fetch.pagination import PaginationConfig, State
from dailyfetch.fetch.shape import TypedRecords
from dailyfetch.redact import mask_url, redact

PREVIOUS = "previous_page"  # the progress key holding the digest of the page before it
_PRINTS = "dailyfetch.page_prints"  # where measure() leaves a response's fingerprints
_MASK = (1 << 64) - 1
_SORTED = msgspec.json.Encoder(order="sorted")  # values orjson cannot encode (integers past 64 bits)


class Prints(NamedTuple):
    """A page's fingerprints: its body's (as a dict key and as stored), its keys', its records'."""

    stored: str  # c32:<length>:<crc32>, the progress's previous_page
    keys: int | None  # count and multiset sum of the primary key's values (None: no key)
    records: int | None  # count, form (text or values) and multiset sum; None: made when needed


class PageGuard:
    """The pages of one attempt at a partition: repeats and the page limit fail it."""

    def __init__(
        self,
        config: PaginationConfig,
        limit: int,
        resume: State | None,
        *,
        records_path: str | None = None,
        repeated_pages: Literal["fail", "allow"] = "fail",
        key: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.limit = limit
        self.count = 0  # pages checked in this attempt
        self.compare = repeated_pages == "fail"
        self._texts = _texts_decoder(records_path)
        self._records: dict[int, int] = {}  # records fingerprint -> page number
        self._key = tuple(key)
        self._keys: dict[int, int] = {}  # key fingerprint -> the first page number with it
        self._printed: set[int] = set()  # pages whose records fingerprint is in _records
        self._previous: tuple[int, bytes, Sequence[Any], int | None] | None = None  # kept for one page
        self._requested: dict[int, int] = {}  # hash of a cursor or URL -> page number
        self._committed = resume.get(PREVIOUS) if resume else None

    def measure(self, response: httpx.Response, records: Sequence[Any]) -> None:
        """Fingerprint a fetched page, where it was fetched (any thread), for :meth:`check_page`."""
        if self.compare and records and response.content:
            response.extensions[_PRINTS] = self._prints(response.content, records)

    def check_page(self, state: State, response: httpx.Response, records: Sequence[Any]) -> str | None:
        """Check one page, in order; return its digest for the progress (``None`` for an empty page)."""
        self.count += 1
        here = self.count
        self._note_request(state, response, here)
        if not self.compare or not records or not response.content:
            return None
        prints = response.extensions.get(_PRINTS)
        if not isinstance(prints, Prints):
            prints = self._prints(response.content, records)
        if here == 1 and prints.stored == self._committed:
            self._fail(state, "has the same body as the last page committed before this attempt")
        full = prints.records
        if full is None and (self._keys.setdefault(prints.keys or 0, here) != here or here == 1):
            # A page whose keys an earlier page had (or the first page): its records are compared.
            full = self._fingerprint(response.content, records)
            self._print_previous(prints.keys)
        if full is not None:
            self._printed.add(here)
            first = self._records.setdefault(full, here)
            if first != here:
                page = f"page {first} of this attempt"
                earlier = f"the page before it ({page})" if first == here - 1 else page
                self._fail(state, f"has the same records as {earlier}, in any order")
        self._previous = (here, response.content, records, prints.keys) if prints.keys is not None else None
        return prints.stored

    def _print_previous(self, keys: int | None) -> None:
        """Fingerprint the page before this one's records too, when it had the same keys: a page that
        repeats the one before it (an API ignoring its page parameter) is then caught at once."""
        if self._previous is None:
            return
        number, content, records, previous_keys = self._previous
        if previous_keys == keys and number not in self._printed:
            self._records.setdefault(self._fingerprint(content, records), number)
            self._printed.add(number)

    def _prints(self, content: bytes, records: Sequence[Any]) -> Prints:
        keys = self._key_print(records)
        full = self._fingerprint(content, records) if keys is None else None
        return Prints(f"c32:{len(content)}:{zlib.crc32(content):08x}", keys, full)

    def _key_print(self, records: Sequence[Any]) -> int | None:
        """The multiset fingerprint of the page's primary-key values (``None`` without a key, or
        where records are not objects): cheap, and equal whenever the records are."""
        if not self._key:
            return None
        columns = []
        for name in self._key:
            if isinstance(records, TypedRecords):
                if name not in records.shape.attr_of:
                    return None
                columns.append(records.column(name))
            else:
                try:
                    columns.append(list(map(dict.get, records, repeat(name))))
                except TypeError:  # a record that is not an object: compare the records instead
                    return None
        try:
            values = columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))
            return (len(values) << 64) | (sum(map(hash, values)) & _MASK)
        except TypeError:  # an object or array as a key value: compare the records instead
            return None

    def _fingerprint(self, content: bytes, records: Sequence[Any]) -> int:
        """The records' multiset fingerprint: by their JSON text as sent where the body holds them as
        a list at the records path (typed or not, a page is fingerprinted alike), else by value."""
        texts = _record_texts(self._texts, content)
        if texts is not None and len(texts) == len(records):
            return (len(texts) << 65) | (sum(map(hash, map(bytes, texts))) & _MASK)
        rows = list(records) if isinstance(records, TypedRecords) else records  # rare: see _texts
        try:
            encoded = list(map(_dumps, rows))
        except orjson.JSONEncodeError:  # an integer past 64 bits, or nesting past orjson's depth
            try:
                encoded = list(map(_SORTED.encode, rows))
            except RecursionError:  # deeper than msgspec goes: the exact encoder, keys as they came
                encoded = list(map(jsontext.dumps, rows))
        return (len(rows) << 65) | (1 << 64) | (sum(map(hash, encoded)) & _MASK)

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
            hint="check [source.pagination]; if the API really sends the same records again (id-less "
            'events), set [source] repeated_pages = "allow" (page_limit still bounds the partition); '
            "the pages committed before it are kept",
        )


def _dumps(record: Any) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


@lru_cache(maxsize=64)
def _texts_decoder(path: str | None) -> msgspec.json.Decoder[Any] | None:
    """A decoder of a body's records, at ``path``, as their JSON texts (``None``: a path that
    indexes a list, which a struct cannot follow)."""
    parts = path.split(".") if path else []
    if any(part.lstrip("-").isdigit() for part in parts):
        return None
    body: Any = list[msgspec.Raw]
    for part in reversed(parts):  # other keys of the wrapping objects are skipped, not built
        body = msgspec.defstruct("Body", [("f0", body)], rename={"f0": part}, gc=False)
    return msgspec.json.Decoder(body)


def _record_texts(decoder: msgspec.json.Decoder[Any] | None, content: bytes) -> list[msgspec.Raw] | None:
    if decoder is None:
        return None
    try:
        node = decoder.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None  # not a list there (one object as the body, say), or deep: fingerprinted by value
    while not isinstance(node, list):
        node = node.f0
    return node


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
