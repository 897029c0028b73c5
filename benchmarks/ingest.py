"""Ingest throughput and peak memory of ``dailyfetch run`` next to the raw limit, at any size.

A narrower, quicker tool than ``compare.py`` (which runs every workload and every
system): serves ``--records`` records from the benchmark's fake API (its own process,
pages rendered once), split over ``--partitions`` and paged by offset, then loads them
with ``dailyfetch run`` (merge on ``id``, ``--concurrency``) and with the raw limit
(httpx in 8 threads, COPY into an UNLOGGED jsonb table), each in a child process
whose peak RSS is polled. Prints a Markdown table of medians::

    .venv/bin/python benchmarks/ingest.py [--records 200000] [--concurrency 8] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

from harness import FakeServer, Measurement, log, median, recreate_scratch, server_version
from systems import Case, Dailyfetch, Raw, System, measure

DAY = "2026-11-01"


def partition_sizes(records: int, partitions: int) -> dict[str, int]:
    """Records per partition name, the remainder going to the first partitions."""
    base, extra = divmod(records, partitions)
    return {f"p{i}": base + (1 if i < extra else 0) for i in range(partitions)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=200_000, help="records in all (200000)")
    parser.add_argument("--partitions", type=int, default=2, help="partitions (2)")
    parser.add_argument("--page-size", type=int, default=1_000, help="records per page (1000)")
    parser.add_argument("--concurrency", type=int, default=1, help="dailyfetch's [source] concurrency (1)")
    parser.add_argument("--batch-size", type=int, help="dailyfetch's [destination] batch_size (its default)")
    parser.add_argument("--runs", type=int, default=1, help="runs per loader; the median is shown (1)")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin URL of the server; the scratch database dailyfetch_bench is created and dropped on it",
    )
    args = parser.parse_args(argv)
    for name in ("records", "partitions", "page_size", "runs", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = partition_sizes(args.records, args.partitions)
    loaders: list[System] = [
        Dailyfetch(
            f"dailyfetch run (concurrency {args.concurrency}, COPY + upsert on id, ledger)",
            args.concurrency,
            batch_size=args.batch_size,
        ),
        Raw("raw limit (httpx, 8 threads, COPY into UNLOGGED jsonb)", 8),
    ]
    results: dict[str, list[Measurement]] = {s.name: [] for s in loaders}
    spec = {"datasets": {DAY: sizes}, "page_size": args.page_size}
    try:
        with FakeServer(spec) as api, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            case = Case(api, args.database_url, DAY, sizes, args.page_size)
            for i in range(args.runs):
                log(f"run {i + 1}/{args.runs} ...")
                for system in loaders:
                    results[system.name].append(measure(system, case, Path(tmp) / "work"))
    finally:
        recreate_scratch(args.database_url, drop_only=True)
    print(
        f"{args.records:,} records, {args.partitions} partitions, pages of {args.page_size:,}, "
        f"median of {args.runs} run(s); PostgreSQL {server_version(args.database_url)}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs\n"
    )
    print("| loader | rows | seconds | rows/s | peak RSS (MiB) | requests |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        seconds = median([m.seconds for m in runs])
        rss = median([m.peak_rss_kib for m in runs]) / 1024
        rows, requests = runs[0].rows, median([m.requests for m in runs])
        print(f"| {name} | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} | {rss:,.0f} | {requests:,.0f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
