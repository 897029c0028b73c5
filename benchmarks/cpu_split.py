"""CPU seconds of one run (W1's shape by default), per process (the loader, PostgreSQL), and its wall time by phase.

Answers "where does the time go" (W1, or W2 with ``--page-size 100 --delay 0.05``): runs dailyfetch and the
raw limit, taking turns, against the benchmark's fake API and a fresh scratch database,
and reads CPU time from ``/proc`` (the loader's from ``getrusage`` of children, the
PostgreSQL backends' from the postmaster's reaped children plus any still alive).
The wall time is also split at the first request and the last answer the fake API saw.
Needs the server on this machine (``--pid-file``). Prints a Markdown table of medians::

    .venv/bin/python benchmarks/cpu_split.py [--records 200000] [--runs 3]
    .venv/bin/python benchmarks/cpu_split.py --records 60000 --page-size 100 --delay 0.05   # W2
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from harness import FakeServer, recreate_scratch, run_child
from systems import Case, Dailyfetch, Raw, System

DAY = "2026-11-01"


def postgres_cpu(pid_file: Path) -> float:
    """CPU seconds of the postmaster's reaped children and of the live backends."""
    ticks = os.sysconf("SC_CLK_TCK")
    postmaster = int(pid_file.read_text(encoding="ascii").splitlines()[0])
    fields = Path(f"/proc/{postmaster}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    total = sum(int(x) for x in fields[13:15])  # cutime, cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == postmaster:
            continue
        try:
            if (entry / "comm").read_text(encoding="ascii").strip() != "postgres":
                continue
            stat = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(stat[11]) + int(stat[12])  # utime, stime
    return total / ticks


ROWS = (
    "wall",
    "the loader process",
    "PostgreSQL",
    "wall: process start to first request",
    "wall: first request to last answer",
    "wall: last answer to exit",
)


def measure(system: System, case: Case, pid_file: Path) -> tuple[float, ...]:
    """One run into a fresh scratch database: wall, loader CPU, PostgreSQL CPU, then the wall
    time's three phases as the fake API saw them (its clock is ``time.monotonic()``, shared
    across processes)."""
    workdir = Path(tempfile.mkdtemp(prefix="dailyfetch-cpu-"))
    try:
        recreate_scratch(case.admin_url)
        argv, env = system.command(case, workdir)
        case.api.reset()
        before_pg, before = postgres_cpu(pid_file), resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        run_child(argv, env=env)
        ended = time.monotonic()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        seen = case.api.stats()
        time.sleep(0.3)  # let the backends exit and be reaped
        pg = postgres_cpu(pid_file) - before_pg
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    loader = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    first, last = seen["first_at"], seen["last_at"]
    return ended - started, loader, pg, first - started, last - first, ended - last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=200_000, help="records in all, over 2 partitions")
    parser.add_argument("--runs", type=int, default=3, help="runs per system; medians are shown")
    parser.add_argument("--page-size", type=int, default=1000, help="records a page (W2's shape: 100)")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="seconds of latency on every answer (W2: 0.05)"
    )
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--pid-file", type=Path, default=Path("/var/run/postgresql/15-main.pid"),
        help="the postmaster's pid file (Debian: /var/run/postgresql/<version>-main.pid)",
    )  # fmt: skip
    args = parser.parse_args()
    sizes = {"p0": args.records // 2, "p1": args.records - args.records // 2}
    systems: list[System] = [Dailyfetch("dailyfetch (concurrency 8)", 8), Raw("raw limit", 8)]
    results: dict[str, list[tuple[float, ...]]] = {s.name: [] for s in systems}
    with FakeServer({"datasets": {DAY: sizes}, "page_size": args.page_size, "delay": args.delay}) as api:
        case = Case(api, args.database_url, DAY, sizes, args.page_size)
        for _ in range(args.runs):
            for system in systems:
                results[system.name].append(measure(system, case, args.pid_file))
    recreate_scratch(args.database_url, drop_only=True)
    shape = f"{args.page_size:,} a page" + (f", {args.delay * 1000:g} ms latency" if args.delay else "")
    print(f"CPU and wall seconds of one run of {args.records:,} records, {shape} (median of {args.runs})\n")
    print("| | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for index, label in enumerate(ROWS):
        cells = [f"{statistics.median(r[index] for r in runs):.2f}" for runs in results.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
