"""Workloads W1 to W4: a fake API set-up, the systems that run on it, and the Markdown table.

Every system of a workload runs against the same fake API process, taking turns
(round 1: each system once, round 2: ...), and the table shows medians. Slow systems
(dlt, the hand-written script) run ``slow_runs`` times, the others ``runs`` times.
"""

# ruff: noqa: RUF001  (the multiplication and division signs are meant: the tables are for people)

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import FakeServer, Measurement, log, median
from systems import Case, Dailyfetch, Dlt, Handwritten, Raw, System, measure

DAY = "2026-11-01"
DAY_SMALL = "2026-11-02"  # W4's 100,000-record data set


@dataclass
class Row:
    """One line of a workload's table: a system on a data set, and its runs."""

    system: System
    date: str
    runs: list[Measurement] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return median([float(getattr(m, attr)) for m in self.runs])

    @property
    def seconds(self) -> float:
        return self.median("seconds")

    @property
    def rss_mib(self) -> float:
        return self.median("peak_rss_kib") / 1024


@dataclass
class Workload:
    """A fake API spec, the rows to measure on it, and how to read the ratio column."""

    key: str
    title: str
    spec: dict[str, object]
    page_size: int
    rows: list[Row]
    ratio_header: str
    ratio: Callable[[Workload, Row], str]
    note: str = ""
    cases: dict[str, Case] = field(default_factory=dict)

    def sizes(self, date: str) -> dict[str, int]:
        datasets: dict[str, dict[str, int]] = self.spec["datasets"]  # type: ignore[assignment]
        return datasets[date]

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.system.name == name)


# ---------------------------------------------------------------- definitions


def _parts(per_partition: int) -> dict[str, int]:
    return {"p0": per_partition, "p1": per_partition}


def _vs_raw(w: Workload, row: Row) -> str:
    raw = next(r for r in w.rows if isinstance(r.system, Raw))
    return f"{row.seconds / raw.seconds:.2f}×"


def _vs_latency_bound(w: Workload, row: Row) -> str:
    case = w.cases[row.date]
    bound = case.pages * float(w.spec["delay"]) / row.system.concurrency  # type: ignore[arg-type]
    return f"{row.seconds / bound:.2f}× of {bound:.2f} s (concurrency {row.system.concurrency})"


def _vs_rate_bound(w: Workload, row: Row) -> str:
    bound = w.cases[row.date].pages / float(w.spec["rate"])  # type: ignore[arg-type]
    return f"{row.seconds / bound:.2f}× of {bound:.1f} s"


def _vs_small(w: Workload, row: Row) -> str:
    small = w.rows[0]
    if not isinstance(row.system, Dailyfetch):
        return ""
    return f"{row.rss_mib / small.rss_mib:.2f}×"


DF_W1 = "dailyfetch (concurrency 8)"
DF_C1 = "dailyfetch (concurrency 1)"
DF_C8 = "dailyfetch (concurrency 8)"
DF_RATE = "dailyfetch (concurrency 8, requests_per_second 40)"
RAW = "raw limit (httpx 8 threads, COPY UNLOGGED)"
DLT = "dlt rest_api, merge (parallelized)"
HAND = "hand-written (requests, INSERT … ON CONFLICT per row)"


def define(quick: bool, profile_dir: Path | None) -> dict[str, Workload]:
    """W1 to W4 at full size, or at a tenth (``quick``)."""
    scale = 10 if quick else 1
    w1 = 100_000 // scale
    w2 = 30_000 // scale
    small, big = 50_000 // scale, 500_000 // scale

    def df(name: str, concurrency: int, **kw: float) -> Dailyfetch:
        return Dailyfetch(name, concurrency, profile_dir=profile_dir, **kw)  # type: ignore[arg-type]

    def others() -> list[System]:
        return [Raw(RAW, 8), Dlt(DLT, 2, slow=True), Handwritten(HAND, 1, slow=True)]

    return {
        "W1": Workload(
            "W1",
            f"throughput-bound: 2 partitions × {w1:,} records of 10 fields, 1,000 a page, no latency",
            {"datasets": {DAY: _parts(w1)}, "page_size": 1000},
            1000,
            [Row(s, DAY) for s in [df(DF_W1, 8), *others()]],
            "÷ raw limit",
            _vs_raw,
        ),
        "W2": Workload(
            "W2",
            f"latency-bound: 2 partitions × {w2:,} records, 100 a page, 50 ms latency on every request",
            {"datasets": {DAY: _parts(w2)}, "page_size": 100, "delay": 0.05},
            100,
            [Row(s, DAY) for s in [df(DF_C1, 1), df(DF_C8, 8), *others()]],
            "÷ pages × latency ÷ concurrency",
            _vs_latency_bound,
        ),
        "W3": Workload(
            "W3",
            "rate-limited: as W2, and the API allows 40 requests a second (429 + Retry-After beyond)",
            {"datasets": {DAY: _parts(w2)}, "page_size": 100, "delay": 0.05, "rate": 40},
            100,
            [Row(s, DAY) for s in [df(DF_RATE, 8, requests_per_second=40), *others()]],
            "÷ pages ÷ rate",
            _vs_rate_bound,
            note="The raw loader has no rate limiter: it retries each 429 after its Retry-After.",
        ),
        "W4": Workload(
            "W4",
            f"memory: W1's shape at {2 * small:,} and {2 * big:,} records",
            {"datasets": {DAY_SMALL: _parts(small), DAY: _parts(big)}, "page_size": 1000},
            1000,
            [
                Row(df(f"dailyfetch, {2 * small:,} records (concurrency 8)", 8), DAY_SMALL),
                Row(df(f"dailyfetch, {2 * big:,} records (concurrency 8)", 8), DAY),
                Row(Raw(f"raw limit, {2 * big:,} records", 8, slow=True), DAY),
            ],
            f"peak RSS ÷ at {2 * small:,}",
            _vs_small,
        ),
    }


# ---------------------------------------------------------------- running and printing


def run(w: Workload, admin_url: str, runs: int, slow_runs: int) -> None:
    """Start the workload's fake API, then measure every row in turns."""
    log(f"{w.key}: starting the fake API (rendering every page) ...")
    with FakeServer(w.spec) as api, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        w.cases = {
            date: Case(api, admin_url, date, w.sizes(date), w.page_size)
            for date in {row.date for row in w.rows}
        }
        rounds = max(runs, slow_runs)
        for i in range(rounds):
            for row in w.rows:
                if i >= (slow_runs if row.system.slow else runs):
                    continue
                log(f"{w.key} run {i + 1}/{rounds}: {row.system.name} ...")
                m = measure(row.system, w.cases[row.date], Path(tmp) / "work")
                log(
                    f"  {m.seconds:.2f} s, {m.peak_rss_kib / 1024:.0f} MiB, {m.requests} requests, "
                    f"{m.status_429} 429s, {m.mean_in_flight} in flight on average"
                )
                row.runs.append(m)


def table(w: Workload) -> str:
    """The workload's Markdown table of medians (requests in flight only where there is latency)."""
    latency = bool(w.spec.get("delay"))
    head = "| system | runs | rows | seconds | rows/s | peak RSS (MiB) | requests | 429s |"
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|"
    if latency:
        head, rule = head + " in flight (mean) |", rule + "---:|"
    lines = [f"{head} {w.ratio_header} |", rule + "---:|"]
    for row in w.rows:
        if not row.runs:
            continue
        rows = row.runs[0].rows
        cells = [
            row.system.name,
            f"{len(row.runs)}",
            f"{rows:,}",
            f"{row.seconds:.2f}",
            f"{rows / row.seconds:,.0f}",
            f"{row.rss_mib:,.0f}",
            f"{row.median('requests'):,.0f}",
            f"{row.median('status_429'):,.0f}",
        ]
        if latency:
            cells.append(f"{row.median('mean_in_flight'):.1f}")
        cells.append(w.ratio(w, row))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
