"""Pages fetched ahead, in parallel, and yielded in order; bounded in requests and in bytes.

With page-number or offset pagination the URLs of the pages ahead are known, so up to
``window`` requests are in flight (and twice that queued while the process mostly waits). Each
page is also reckoned against the run's :class:`~dailyfetch.fetch.budget.PageBudget` from its
request until the consumer asks for the page after it, so the pages held ahead never take more
than the budget, whatever their size (one page is always allowed: a partition must progress).

If an offset page comes back shorter than its limit but not empty, the speculative pages after
it are discarded and paging continues from the true next offset.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from dailyfetch.config import OffsetPagination, PageNumberPagination
from dailyfetch.fetch.budget import PageBudget, Ticket, page_cost
from dailyfetch.fetch.process_load import ProcessLoad
from dailyfetch.fetch.shape import TypedRecords
from dailyfetch.stopping import StopToken

Fetched = tuple[httpx.Response, Any, Sequence[Any]]


def cost_of(fetched: Fetched) -> int:
    """What a fetched page takes in memory (:func:`~dailyfetch.fetch.budget.page_cost`)."""
    response, _body, records = fetched
    return page_cost(len(response.content), typed=isinstance(records, TypedRecords))


def fetch_reckoned(
    fetch: Callable[[dict[str, Any]], Fetched],
    budget: PageBudget,
    stop: StopToken,
    state: dict[str, Any],
    *,
    wait: bool = True,
) -> tuple[Fetched, Ticket]:
    """Fetch the page at ``state`` once its bytes fit the budget (at once where not ``wait``), and
    its ticket: the caller releases it once the page is consumed."""
    ticket = budget.reserve(stop) if wait else budget.force_reserve()
    try:
        fetched = fetch(state)
    except BaseException:
        budget.release(ticket)
        raise
    budget.settle(ticket, cost_of(fetched))
    return fetched, ticket


def fetch_ahead(
    fetch: Callable[[dict[str, Any]], Fetched],
    config: PageNumberPagination | OffsetPagination,
    state: dict[str, Any],
    window: int,
    budget: PageBudget,
    stop: StopToken,
) -> Iterator[tuple[dict[str, Any], Fetched]]:
    """Fetch pages ahead with ``window`` requests in flight; yield them in order.

    While the process mostly waits (the source is the slow side; see
    :class:`~dailyfetch.fetch.process_load.ProcessLoad`), a second ``window`` of
    requests is queued behind the first, so requests keep going while the consumer
    writes a batch. While it is busy computing (a fast source: pages wait for the
    consumer), nothing more is queued: fetching further ahead would only hold more pages
    in memory and take the GIL from the consumer (W1 in benchmarks/README.md). Either way
    a request is queued only while its page fits the byte budget beside those queued, and
    the page yielded is reckoned until the consumer asks for the next one.
    """
    pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="dailyfetch-page")
    queue: deque[tuple[dict[str, Any], Future[Fetched | None], Ticket]] = deque()
    upcoming = state
    load = ProcessLoad()
    key = "page" if isinstance(config, PageNumberPagination) else "offset"
    # Where empty pages came back, per pass (a short offset page starts a new pass from the
    # true next offset): within a pass, nothing after an empty page is ever consumed.
    empty_at: dict[int, int] = {}
    passes = 0

    def fetch_unless_past_the_end(
        page_state: dict[str, Any], this_pass: int, ticket: Ticket
    ) -> Fetched | None:
        end = empty_at.get(this_pass)
        if end is not None and page_state[key] > end:
            budget.release(ticket)
            return None  # queued behind this pass's last page: not requested
        fetched: Fetched = fetch(page_state)
        budget.settle(ticket, cost_of(fetched))
        if not fetched[2]:
            empty_at[this_pass] = min(page_state[key], empty_at.get(this_pass, page_state[key]))
        return fetched

    def drop(entries: deque[tuple[dict[str, Any], Future[Fetched | None], Ticket]]) -> None:
        """Cancel queued requests; each page's bytes are released once its request is over."""
        for _, pending, ticket in entries:
            pending.cancel()
            pending.add_done_callback(_releaser(budget, ticket))
        entries.clear()

    held: Ticket | None = None
    try:
        while True:
            while len(queue) < (window if load.busy() else 2 * window):
                ticket = budget.try_reserve() if queue else budget.reserve(stop)
                if ticket is None:
                    break  # the budget is full: wait for the pages queued
                queue.append(
                    (upcoming, pool.submit(fetch_unless_past_the_end, upcoming, passes, ticket), ticket)
                )
                upcoming = _advance(config, upcoming)
            page_state, future, held = queue.popleft()
            fetched = future.result()
            if fetched is None:  # not reached within a pass; a fetch of its own, to be sure
                fetched, held = fetch_reckoned(fetch, budget, stop, page_state, wait=False)
            yield page_state, fetched
            budget.release(held)
            held = None
            records = fetched[2]
            if not records:
                return
            if isinstance(config, OffsetPagination) and len(records) != config.limit:
                drop(queue)
                passes += 1
                upcoming = {"offset": page_state["offset"] + len(records)}
    finally:
        drop(queue)
        pool.shutdown(wait=True, cancel_futures=True)
        if held is not None:
            budget.release(held)


def _releaser(budget: PageBudget, ticket: Ticket) -> Callable[[Future[Fetched | None]], None]:
    return lambda _done: budget.release(ticket)


def _advance(config: PageNumberPagination | OffsetPagination, state: dict[str, Any]) -> dict[str, Any]:
    if isinstance(config, PageNumberPagination):
        return {"page": state["page"] + 1}
    return {"offset": state["offset"] + config.limit}
