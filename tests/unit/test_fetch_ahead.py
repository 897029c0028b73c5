"""Pages fetched ahead: more requests queued while the process waits, none while it computes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from dailyfetch.config import SourceConfig
from dailyfetch.fetch import ahead, process_load
from dailyfetch.fetch.control import FetchControl
from dailyfetch.fetch.process_load import ProcessLoad
from dailyfetch.fetch.rest import fetch_rest_pages
from dailyfetch.fetch.source import Page
from support.fakeapi import FakeAPI, make_records

WINDOW = 4


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def pages(base_url: str, client: httpx.Client) -> Iterator[Page]:
    """The offset-paginated pages of one partition, ``WINDOW`` requests in flight."""
    source = SourceConfig.model_validate(
        {
            "kind": "rest",
            "url": base_url + "/offset/{date}/p",
            "records": "items",
            "pagination": {"kind": "offset", "param": "offset", "limit_param": "limit", "limit": 10},
            "concurrency": WINDOW,
        }
    )
    control = FetchControl.create(concurrency=WINDOW)  # as the runner makes it: WINDOW slots
    return fetch_rest_pages(source, client, {"date": "2026-03-01"}, None, control=control)


def counting_pool(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The pages handed to the fetch threads, counted as they are queued."""
    queued: list[object] = []

    class CountingPool(ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            queued.append(args)
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(ahead, "ThreadPoolExecutor", CountingPool)
    return queued


def test_requests_keep_going_while_a_waiting_consumer_is_busy(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A latency-bound source: a second window is queued behind the first, so requests keep
    going while the consumer writes a batch.

    Counted where it is decided (pages handed to the pool when page 40 is yielded), not by
    requests reaching the server during a sleep: on a loaded machine a consumer that lags
    behind the fetch threads finds the queue already sent, whatever its depth. The signal is
    real: the process mostly waits on 50 ms pages (records are built once, so the in-process
    server computes little).
    """
    monkeypatch.setattr(process_load, "_allowance", lambda: 1.0)  # whatever quota CI's cgroup sets
    queued = counting_pool(monkeypatch)
    records = make_records("2026-03-01", "p", 1000)
    api = FakeAPI(records_for=lambda d, p: records, page_size=10, delay=0.05).start()
    try:
        for index, _page in enumerate(pages(api.url, client)):
            if index == 40:  # half a second of mostly waiting for pages
                ahead = len(queued) - (index + 1)
                break
    finally:
        api.stop()
    assert ahead > WINDOW, f"{ahead} pages queued ahead of a waiting consumer: one window, not two"


def test_a_busy_consumer_is_not_fetched_further_ahead_than_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A CPU-bound run: pages wait for the consumer, and no more than the window are requested ahead.

    The pages come from an in-process transport that answers at once, and the consumer
    computes for 20 ms a page, so the process is busy from the first page on. The CPU it may
    use is set to a quarter (as on a 256-unit Fargate task): on a machine where other
    processes take the CPUs (tests in parallel), a computing process can get less than half
    of one, which would read as waiting.
    """
    monkeypatch.setattr(process_load, "_allowance", lambda: 0.25)
    requested: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        requested.append(offset)
        return httpx.Response(200, json={"items": [{"id": offset + i} for i in range(10)]})

    ahead = []
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        for index, _page in enumerate(pages("https://api.test", client)):
            until = time.process_time() + 0.02
            while time.process_time() < until:  # computing, as when typing and encoding a batch
                pass
            ahead.append(len(requested) - (index + 1))
            if index == 40:
                break
    assert max(ahead) <= WINDOW, f"up to {max(ahead)} pages were requested ahead of the consumer"


def test_requests_queued_past_an_empty_page_are_not_sent(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once an empty page comes back, the pages queued behind it are dropped unsent: at most the
    requests already in flight go past the end."""
    # The process counts as waiting throughout, so a second window is queued behind the first
    # (the signal itself is tested above and in test_process_load.py); every page queued is counted.
    monkeypatch.setattr(ProcessLoad, "busy", lambda self: False)
    queued = counting_pool(monkeypatch)
    records = make_records("2026-03-01", "p", 400)
    api = FakeAPI(records_for=lambda d, p: records, page_size=10, delay=0.05).start()
    try:
        fetched = list(pages(api.url, client))
    finally:
        api.stop()
    assert sum(len(page.records) for page in fetched) == 400
    past_the_end = len(api.requests) - 41  # 40 pages of records, then the empty one
    assert 0 <= past_the_end <= WINDOW - 1, f"{past_the_end} requests went past the empty page"
    assert len(queued) >= 41 + WINDOW, f"only {len(queued)} pages were queued: nothing past the end to drop"
    assert len(queued) > len(api.requests)  # pages queued past the end, never sent


def test_an_empty_page_seen_before_a_restart_does_not_hide_pages_after_it() -> None:
    """An API that caps pages below ``limit`` restarts paging at every short page; an empty
    answer to an earlier pass's request must not stop later offsets, once records were added."""
    records = [{"id": i} for i in range(25)]

    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return httpx.Response(200, json={"items": records[offset : offset + 5]})  # at most 5 a page

    seen: list[int] = []
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        for page in pages("https://api.test", client):
            seen += [r["id"] for r in page.records]
            if seen[-1:] == [24] and len(records) == 25:
                time.sleep(0.1)  # the first pass's requests past the end have come back empty
                records += [{"id": i} for i in range(25, 45)]  # the source grows meanwhile
    assert seen == list(range(45))
