"""Compare dailyfetch with dlt, a hand-written script and a raw COPY loader; print Markdown tables.

Workloads (see benchmarks/README.md):

* W1 throughput-bound, W2 latency-bound (concurrency 1 and 8), W3 rate-limited,
  W4 memory (peak RSS from 100,000 to 1,000,000 records), W5 start-up;
* then a table of the targets, each met or missed.

Every system runs as a child process against the same fake API (a process of its
own, pages rendered once) and the same PostgreSQL, in one run, taking turns; each
run gets a fresh scratch database ``dailyfetch_bench``. dlt, the hand-written script
and py-spy live in ``benchmarks/.venv-dlt``, created on first use from
``requirements/bench.txt``. Progress goes to stderr, the Markdown to stdout::

    .venv/bin/python benchmarks/compare.py                  # everything, median of 3 (about 10 minutes)
    .venv/bin/python benchmarks/compare.py --quick --only W1   # smoke check, under a minute
    .venv/bin/python benchmarks/compare.py --only W2,W3 --runs 5 --database-url postgresql://...
"""

# ruff: noqa: RUF001  (the multiplication and division signs are meant: the tables are for people)

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import startup
import workloads
from harness import bench_python, log, recreate_scratch, server_version
from workloads import DF_C8, DF_RATE, DF_W1, DLT, HAND, RAW, Workload

ALL = ("W1", "W2", "W3", "W4", "W5")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="compare.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Example: .venv/bin/python benchmarks/compare.py --quick --only W1",
    )
    parser.add_argument("--runs", type=int, help="runs per system; the median is shown (3; 1 with --quick)")
    parser.add_argument(
        "--slow-runs", type=int, help="runs of dlt, the hand-written script and W4's raw loader (1)"
    )
    parser.add_argument("--only", default=",".join(ALL), help="comma-separated workloads (W1,W2,W3,W4,W5)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the records: a smoke check")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin URL of the PostgreSQL server; the scratch database dailyfetch_bench is created "
        "and dropped on it (the role needs CREATEDB)",
    )
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="record each dailyfetch run with py-spy into DIR/*.svg"
    )
    args = parser.parse_args(argv)
    args.only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in args.only if w not in ALL]
    if unknown:
        parser.error(f"--only: unknown workload {', '.join(unknown)} (choose from {', '.join(ALL)})")
    args.runs = args.runs or (1 if args.quick else 3)
    args.slow_runs = args.slow_runs or 1
    if args.runs < 1 or args.slow_runs < 1:
        parser.error("--runs and --slow-runs must be at least 1")
    return args


def machine(admin_url: str) -> str:
    """One paragraph: CPUs, model, RAM, PostgreSQL, Python, dlt, load."""
    model = "?"
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
        if line.startswith("MemTotal:")
    )
    dlt = subprocess.run(
        [bench_python(), "-c", "import dlt; print(dlt.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem_kib / 1024 / 1024:.0f} GiB RAM, "
        f"PostgreSQL {server_version(admin_url)} on the same machine, Python {platform.python_version()}, "
        f"dlt {dlt or '?'}; load average at start {load}"
    )


def check(label: str, measured: str, ok: bool) -> str:
    return f"| {label} | {measured} | {'met' if ok else '**missed**'} |"


def targets(done: dict[str, Workload], timings: list[startup.Timing]) -> str:
    """The targets table, for the workloads that ran."""
    lines = ["| target | measured | |", "|---|---|---|"]
    if "W1" in done:
        w = done["W1"]
        df, dlt, hand, raw = (w.row(n) for n in (DF_W1, DLT, HAND, RAW))
        lines.append(
            check(
                "W1: ≥ 5× faster than dlt", f"{dlt.seconds / df.seconds:.1f}×", dlt.seconds >= 5 * df.seconds
            )
        )
        lines.append(
            check(
                "W1: ≥ 4× faster than the hand-written script",
                f"{hand.seconds / df.seconds:.1f}×",
                hand.seconds >= 4 * df.seconds,
            )
        )
        lines.append(
            check(
                "W1: within 1.5× of the raw limit",
                f"{df.seconds / raw.seconds:.2f}×",
                df.seconds <= 1.5 * raw.seconds,
            )
        )
        lines.append(check("W1: peak RSS ≤ 150 MiB", f"{df.rss_mib:.0f} MiB", df.rss_mib <= 150))
    if "W2" in done:
        w = done["W2"]
        row = w.row(DF_C8)
        bound = w.cases[row.date].pages * 0.05 / 8
        lines.append(
            check(
                "W2: concurrency 8 within 1.3× of pages × latency ÷ 8",
                f"{row.seconds:.2f} s = {row.seconds / bound:.2f}× of {bound:.2f} s",
                row.seconds <= 1.3 * bound,
            )
        )
    if "W3" in done:
        w = done["W3"]
        row = w.row(DF_RATE)
        bound = w.cases[row.date].pages / 40
        s429 = max(m.status_429 for m in row.runs)
        lines.append(
            check(
                "W3: within 1.2× of pages ÷ rate, zero 429s",
                f"{row.seconds:.2f} s = {row.seconds / bound:.2f}× of {bound:.1f} s; {s429} 429s (most in a run)",
                row.seconds <= 1.2 * bound and s429 == 0,
            )
        )
    if "W4" in done:
        small, big = done["W4"].rows[:2]
        ratio = big.rss_mib / small.rss_mib
        lines.append(
            check(
                "W4: peak RSS flat (within 20%) from the small to the large data set",
                f"{small.rss_mib:.0f} → {big.rss_mib:.0f} MiB ({ratio:.2f}×)",
                ratio <= 1.2,
            )
        )
    for t in timings:
        if t.target is not None:
            lines.append(check(f"W5: {t.label} < {t.target:g} s", f"{t.median:.3f} s", t.median < t.target))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    print("# dailyfetch benchmarks\n")
    print(machine(args.database_url) + ".")
    print(
        f"Median of {args.runs} run(s); dlt and the hand-written script: {args.slow_runs} run(s)"
        + (" (--quick: a tenth of the records)" if args.quick else "")
        + ".\n"
    )
    if args.profile:
        print(f"**--profile**: dailyfetch ran under py-spy ({args.profile}/*.svg); its seconds are slowed")
        print("and its peak RSS is py-spy's own: do not compare these numbers.\n")
    defined = workloads.define(args.quick, args.profile)
    done: dict[str, Workload] = {}
    timings: list[startup.Timing] = []
    try:
        for key in args.only:
            if key == "W5":
                timings = startup.run(args.database_url, 3 if args.quick else 10)
                print("## W5: start-up\n")
                print(startup.table(timings) + "\n", flush=True)
                continue
            w = defined[key]
            workloads.run(w, args.database_url, args.runs, args.slow_runs)
            done[key] = w
            print(f"## {w.key}: {w.title}\n")
            print(workloads.table(w) + "\n", flush=True)
            if w.note:
                print(w.note + "\n", flush=True)
    finally:
        recreate_scratch(args.database_url, drop_only=True)
    print("## Targets\n")
    print(targets(done, timings))
    log(f"finished in {time.perf_counter() - started:.0f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
