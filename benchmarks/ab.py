"""A/B two builds of dailyfetch on W1 and W2 (concurrency 8), taking turns, in one run.

A change that must not slow the job down is measured against the build before it in
the same session, on the same fake API and PostgreSQL, alternating A and B so that a
machine's drift hits both alike. Each build is a ``dailyfetch`` executable (a venv's)::

    python3 -m venv /tmp/base && /tmp/base/bin/pip install -q "git+file://$PWD@<commit>"
    .venv/bin/python benchmarks/ab.py --baseline /tmp/base/bin/dailyfetch --runs 5

prints a Markdown table: each workload's median seconds for A (the baseline) and B
(this checkout's ``dailyfetch``), and B ÷ A.
"""

# ruff: noqa: RUF001  (the multiplication and division signs are meant: the tables are for people)

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import FakeServer, Measurement, dailyfetch_command, log, median
from systems import Case, Dailyfetch, measure
from workloads import DAY


@dataclass(frozen=True)
class Build(Dailyfetch):
    """``Dailyfetch`` with the executable given, instead of the one beside this interpreter."""

    executable: str = ""

    def command(self, case: Case, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv, env = super().command(case, workdir)
        ours = dailyfetch_command()
        return [self.executable, *argv[len(ours) :]], env


def main() -> None:
    parser = argparse.ArgumentParser(prog="ab.py", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--baseline", required=True, help="the baseline build's dailyfetch executable (A)")
    parser.add_argument("--candidate", help="the candidate's executable (B; default: this checkout's)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each build per workload (5)")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    candidate = args.candidate or dailyfetch_command()[0]
    workloads = {
        "W1": ({"datasets": {DAY: {"p1": 100_000, "p2": 100_000}}, "page_size": 1000}, 1000),
        "W2": ({"datasets": {DAY: {"p1": 30_000, "p2": 30_000}}, "page_size": 100, "delay": 0.05}, 100),
    }
    print("| workload | A (baseline) | B (candidate) | B ÷ A |\n|---|---|---|---|")
    for key, (spec, page_size) in workloads.items():
        builds = {
            "A": Build(f"{key} A", 8, executable=args.baseline),
            "B": Build(f"{key} B", 8, executable=candidate),
        }
        times: dict[str, list[float]] = {"A": [], "B": []}
        with FakeServer(spec) as api, tempfile.TemporaryDirectory(prefix="ab-") as tmp:
            case = Case(api, args.database_url, DAY, spec["datasets"][DAY], page_size)  # type: ignore[index]
            for i in range(args.runs):
                for name, build in builds.items():
                    m: Measurement = measure(build, case, Path(tmp) / "work")
                    times[name].append(m.seconds)
                    log(
                        f"{key} run {i + 1}/{args.runs} {name}: {m.seconds:.2f} s, {m.peak_rss_kib / 1024:.0f} MiB"
                    )
        a, b = median(times["A"]), median(times["B"])
        print(f"| {key} | {a:.2f} s | {b:.2f} s | {b / a:.3f}× |", flush=True)


if __name__ == "__main__":
    main()
