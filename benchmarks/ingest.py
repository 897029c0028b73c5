"""Ingest throughput and peak memory of ``dailyfetch run``, next to a raw-limit loader.

Serves ``--records`` records (the shape of ``tests/support/fakeapi.make_records``) from
the local fake API, split over ``--partitions`` partitions and paged by offset with
``--page-size`` records a page, then loads them two ways, each in a child process
whose peak RSS (``VmHWM``) is polled from ``/proc/<pid>/status``:

* ``dailyfetch run``: the installed CLI with a generated config, merging on ``id``
  (COPY into a staging table, one upsert per batch, the run ledger);
* raw limit: the same pages fetched by a bare httpx client in 8 threads (at most 16
  in flight) and COPY'd as jsonb into an UNLOGGED table: no checks, no ledger, no upsert.

Each run starts from a freshly created scratch database ``dailyfetch_bench``, which
is dropped at the end. Prints a Markdown table (median of ``--runs``)::

    .venv/bin/python benchmarks/ingest.py [--records 200000] [--runs 3]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.fakeapi import FakeAPI, make_records  # noqa: E402

SCRATCH_DB = "dailyfetch_bench"
DAY = "2026-11-01"
RAW_THREADS = 8


@dataclass(frozen=True)
class Measurement:
    """One loader run: wall seconds, peak RSS of the child, rows landed."""

    seconds: float
    peak_rss_kib: int
    rows: int


def partition_sizes(records: int, partitions: int) -> dict[str, int]:
    """Records per partition name, the remainder going to the first partitions."""
    base, extra = divmod(records, partitions)
    return {f"p{i}": base + (1 if i < extra else 0) for i in range(partitions)}


def start_api(sizes: dict[str, int], page_size: int) -> FakeAPI:
    """The fake API serving ``sizes[partition]`` records per partition (built once, cached)."""

    @functools.cache
    def records_for(day: str, partition: str) -> list[dict[str, Any]]:
        return make_records(day, partition, sizes.get(partition, 0))

    for partition in sizes:
        records_for(DAY, partition)  # warm the cache outside the timed runs
    return FakeAPI(records_for=records_for, page_size=page_size).start()


def scratch_url(admin_url: str) -> str:
    """The admin URL pointed at the scratch database."""
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    info["dbname"] = SCRATCH_DB
    return psycopg.conninfo.make_conninfo(**info)


def recreate_scratch(admin_url: str, *, drop_only: bool = False) -> None:
    """Drop the scratch database and, unless ``drop_only``, create it empty."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        name = sql.Identifier(SCRATCH_DB)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def count_rows(url: str, table: str) -> int:
    """``count(*)`` of ``public.<table>``."""
    with psycopg.connect(url) as conn:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("public", table))
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set so far (``VmHWM``), in KiB; 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def run_child(argv: list[str]) -> tuple[float, int]:
    """Run ``argv``; return its wall seconds and peak RSS (KiB); raise if it fails.

    The peak is polled from ``/proc/<pid>/status`` rather than taken from ``wait4``:
    on Linux a child's ``ru_maxrss`` starts from the parent's high-water mark at
    fork, and this parent holds every served record in memory.
    """
    if not Path("/proc/self/status").exists():
        raise SystemExit("peak RSS is read from /proc/<pid>/status: run this on Linux")
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, peak_rss_kib(proc.pid))
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace").strip().splitlines()[-5:]
            raise SystemExit(f"{argv[0]} exited {proc.returncode}:\n" + "\n".join(tail))
    return seconds, peak


def dailyfetch_config(api_url: str, sizes: dict[str, int], page_size: int) -> str:
    """A dailyfetch.toml for the fake API: offset pages, partitions, merge on id."""
    names = ", ".join(f'"{p}"' for p in sizes)
    return f"""\
[job]
name = "bench"

[source]
kind = "rest"
url = "{api_url}/offset/{{date}}/{{part}}"
records = "items"
pagination = {{ kind = "offset", param = "offset", limit_param = "limit", limit = {page_size} }}

[source.partitions]
part = [{names}]

[destination]
table = "bench"
primary_key = ["id"]
write = "merge"
"""


def dailyfetch_command() -> list[str]:
    """The installed ``dailyfetch`` next to this interpreter, else ``python -m dailyfetch``."""
    exe = shutil.which("dailyfetch", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "dailyfetch"]


def measure_dailyfetch(admin_url: str, config: Path, expected: int) -> Measurement:
    """One ``dailyfetch run`` into a fresh scratch database."""
    recreate_scratch(admin_url)
    url = scratch_url(admin_url)
    argv = [*dailyfetch_command(), "run", "-c", str(config), "--date", DAY]
    argv += ["--database-url", url, "--quiet"]
    seconds, rss = run_child(argv)
    rows = count_rows(url, "bench")
    if rows != expected:
        raise SystemExit(f"dailyfetch landed {rows} rows, expected {expected}")
    return Measurement(seconds, rss, rows)


def measure_raw(admin_url: str, api_url: str, sizes: dict[str, int], page_size: int) -> Measurement:
    """One raw-limit load (this script in ``--raw-child`` mode) into a fresh scratch database."""
    recreate_scratch(admin_url)
    url = scratch_url(admin_url)
    parts = ",".join(f"{p}={n}" for p, n in sizes.items())
    argv = [sys.executable, __file__, "--raw-child", api_url, url, parts, str(page_size)]
    seconds, rss = run_child(argv)
    rows = count_rows(url, "raw")
    expected = sum(sizes.values())
    if rows != expected:
        raise SystemExit(f"the raw loader landed {rows} rows, expected {expected}")
    return Measurement(seconds, rss, rows)


def raw_load(api_url: str, url: str, parts: str, page_size: int) -> None:
    """The raw limit: fetch every page in threads, COPY the records as jsonb lines."""
    import httpx
    import orjson

    sizes = {name: int(n) for name, n in (p.split("=") for p in parts.split(","))}
    pages = [
        (f"{api_url}/offset/{DAY}/{name}", offset)
        for name, n in sizes.items()
        for offset in range(0, n, page_size)
    ]
    with (
        psycopg.connect(url) as conn,
        httpx.Client(limits=httpx.Limits(max_connections=RAW_THREADS)) as client,
        ThreadPoolExecutor(RAW_THREADS) as pool,
    ):
        conn.execute("CREATE UNLOGGED TABLE raw (doc jsonb)")

        def fetch(page: tuple[str, int]) -> bytes:
            params = {"offset": page[1], "limit": page_size}
            response = client.get(page[0], params=params)
            response.raise_for_status()
            return response.content

        with conn.cursor() as cur, cur.copy("COPY raw (doc) FROM STDIN") as copy:
            # At most 2 pages per thread in flight, so memory stays bounded like a real loader.
            queue = iter(pages)
            running: set[Future[bytes]] = set()
            while True:
                while len(running) < 2 * RAW_THREADS and (page := next(queue, None)) is not None:
                    running.add(pool.submit(fetch, page))
                if not running:
                    break
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    items = orjson.loads(future.result())["items"]
                    # JSON text has no raw tabs or newlines; only backslashes need escaping.
                    copy.write(b"".join(orjson.dumps(r).replace(b"\\", b"\\\\") + b"\n" for r in items))


def median(values: list[float]) -> float:
    """The median, as a float."""
    return float(statistics.median(values))


def table(results: dict[str, list[Measurement]]) -> str:
    """The Markdown table of medians."""
    lines = [
        "| loader | rows | seconds | rows/s | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        seconds = median([m.seconds for m in runs])
        rss = median([m.peak_rss_kib for m in runs]) / 1024
        rows = runs[0].rows
        lines.append(f"| {name} | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} | {rss:,.0f} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=200_000, help="records in all (200000)")
    parser.add_argument("--partitions", type=int, default=2, help="partitions (2)")
    parser.add_argument("--page-size", type=int, default=1_000, help="records per page (1000)")
    parser.add_argument("--runs", type=int, default=1, help="runs per loader; the median is shown")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help=f"admin URL of the server; {SCRATCH_DB} is created and dropped on it",
    )
    parser.add_argument("--raw-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("records", "partitions", "page_size", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run both loaders ``--runs`` times and print the table."""
    args = parse_args(argv)
    if args.raw_child:
        api_url, url, parts, page_size = args.raw_child
        raw_load(api_url, url, parts, int(page_size))
        return
    sizes = partition_sizes(args.records, args.partitions)
    api = start_api(sizes, args.page_size)
    results: dict[str, list[Measurement]] = {
        "dailyfetch run (COPY + upsert on id, ledger)": [],
        f"raw limit (httpx, {RAW_THREADS} threads, COPY into UNLOGGED jsonb)": [],
    }
    loaders = list(results)
    try:
        with tempfile.TemporaryDirectory() as folder:
            config = Path(folder) / "bench.toml"
            config.write_text(dailyfetch_config(api.url, sizes, args.page_size), encoding="utf-8")
            for i in range(args.runs):
                print(f"run {i + 1}/{args.runs} ...", file=sys.stderr, flush=True)
                results[loaders[0]].append(measure_dailyfetch(args.database_url, config, args.records))
                results[loaders[1]].append(measure_raw(args.database_url, api.url, sizes, args.page_size))
        with psycopg.connect(args.database_url) as conn:
            version = conn.execute("SHOW server_version").fetchone()
    finally:
        api.stop()
        recreate_scratch(args.database_url, drop_only=True)
    print(
        f"{args.records:,} records, {args.partitions} partitions, pages of {args.page_size:,}, "
        f"median of {args.runs} run(s); PostgreSQL {version[0] if version else '?'}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs\n"
    )
    print(table(results))


if __name__ == "__main__":
    main()
