"""Pages fetched ahead are bounded in bytes, not only in number: with 5.5 MB pages and concurrency 16
under a 512 MiB budget, the pages requested and not yet consumed stay within what the budget holds,
counted from the server's side."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from dailyfetch.config import SourceConfig
from dailyfetch.fetch.budget import MiB, PageBudget, page_cost, read_ahead_budget
from dailyfetch.fetch.control import FetchControl
from dailyfetch.fetch.rest import fetch_rest_pages
from support.big_pages import PER_PAGE, BigPagesAPI, page_body

PAGES = 30
WRITE = 0.02  # seconds the consumer spends on each page, as if writing it: the queue may fill


@pytest.fixture
def api() -> Iterator[BigPagesAPI]:
    server = BigPagesAPI(PAGES)
    yield server
    server.stop()


def big_source(api: BigPagesAPI, concurrency: int, partition: str = "a") -> SourceConfig:
    return SourceConfig.model_validate(
        {
            "kind": "rest",
            "url": f"{api.url}/items?partition={partition}",
            "records": "items",
            "pagination": {"kind": "page_number"},
            "concurrency": concurrency,
        }
    )


def budget_of_512_mib() -> tuple[FetchControl, int]:
    """A control with a 512 MiB task's budget, and how many big pages that holds."""
    control = FetchControl.create(concurrency=16)
    control.budget = PageBudget(read_ahead_budget(512 * MiB))
    return control, control.budget.total // page_cost(len(page_body(1, PAGES)), typed=False)


@pytest.mark.parametrize("concurrency", [16, 4])
def test_big_pages_at_high_concurrency_stay_within_a_512_mib_budget(
    concurrency: int, api: BigPagesAPI
) -> None:
    """Requested-but-unconsumed pages never exceed the budget's share (3 pages of 5.5 MB decoded as
    dicts in 128 MiB), where the request window alone allows twice the concurrency; every page arrives."""
    control, fits = budget_of_512_mib()
    outstanding: list[int] = []
    records = 0
    with httpx.Client(timeout=60) as client:
        pages = fetch_rest_pages(
            big_source(api, concurrency), client, {"date": "2026-11-01"}, None, control=control
        )
        for page in pages:
            records += len(page.records)
            time.sleep(WRITE)
            outstanding.append(api.requested - len(outstanding) - 1)  # asked for, beyond those taken
    print(
        f"READ-AHEAD | concurrency {concurrency} | budget={control.budget.total // MiB} MiB fits={fits} pages | "
        f"max requested-not-consumed={max(outstanding)} | peak reserved={control.budget.peak // MiB} MiB "
        f"in {control.budget.peak_pages} pages | requests={api.requested}"
    )
    assert records == PAGES * PER_PAGE
    assert fits == 3
    assert max(outstanding) <= fits - 1  # besides the page in the consumer's hands
    assert control.budget.peak <= control.budget.total  # bytes reserved (pages past the end weigh ~nothing)
    assert control.budget.reserved == 0  # every page's bytes released at the end


def test_partitions_fetched_at_once_share_one_budget(api: BigPagesAPI) -> None:
    """Two partitions of one run, each fetching 8 ahead: together they never reserve more bytes than
    one budget holds."""
    control, _fits = budget_of_512_mib()
    counts: list[int] = []

    def consume(partition: str) -> None:
        with httpx.Client(timeout=60) as client:
            source = big_source(api, 8, partition)
            counts.append(
                sum(len(p.records) for p in fetch_rest_pages(source, client, {}, None, control=control))
            )

    threads = [threading.Thread(target=consume, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    print(
        f"READ-AHEAD | two partitions | peak {control.budget.peak_pages} pages, {control.budget.peak // MiB} MiB"
    )
    assert counts == [PAGES * PER_PAGE] * 2
    assert control.budget.peak <= control.budget.total and control.budget.reserved == 0
