"""W5, start-up: ``dailyfetch --help`` and a no-op ``run`` (the date already succeeded).

The no-op run is timed against the external PostgreSQL (the scratch database) and
against the embedded one (``DAILYFETCH_HOME`` set to a temporary folder, no database
URL). The first embedded run does initdb; it is timed once and reported apart, and
the warm no-op is what is compared. Uses hyperfine when it is installed (``-N``, one
warm-up), else a loop of its own; the median is shown.
"""

from __future__ import annotations

import json
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import FakeServer, clean_env, dailyfetch_command, recreate_scratch, scratch_url
from systems import Case, Dailyfetch

DAY = "2026-11-01"


@dataclass(frozen=True)
class Timing:
    label: str
    median: float
    low: float
    high: float
    runs: int
    tool: str
    target: float | None = None


def time_command(label: str, argv: list[str], env: dict[str, str], runs: int, target: float | None) -> Timing:
    """The median wall time of ``argv`` over ``runs`` runs, after one warm-up."""
    hyperfine = shutil.which("hyperfine")
    if hyperfine:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            options = [
                "-N",
                "--warmup",
                "1",
                "--runs",
                str(runs),
                "--style",
                "none",
                "--export-json",
                out.name,
            ]
            subprocess.run(
                [hyperfine, *options, shlex.join(argv)], env=env, check=True, stdout=subprocess.DEVNULL
            )
            times = json.loads(Path(out.name).read_text(encoding="utf-8"))["results"][0]["times"]
        tool = "hyperfine"
    else:
        times = []
        for i in range(runs + 1):
            started = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if i:  # the first run is the warm-up
                times.append(time.perf_counter() - started)
        tool = "own loop"
    return Timing(label, statistics.median(times), min(times), max(times), len(times), tool, target)


def run(admin_url: str, runs: int) -> list[Timing]:
    """Time --help, then a no-op run against the external and the embedded PostgreSQL."""
    spec = {"datasets": {DAY: {"p0": 100, "p1": 100}}, "page_size": 100}
    timings: list[Timing] = []
    dailyfetch = dailyfetch_command()
    with FakeServer(spec) as api, tempfile.TemporaryDirectory(prefix="bench-w5-") as tmp:
        case = Case(api, admin_url, DAY, spec["datasets"][DAY], 100)  # type: ignore[index]
        config = Path(tmp) / "dailyfetch.toml"
        config.write_text(Dailyfetch("dailyfetch", 1).config(case), encoding="utf-8")
        base = [*dailyfetch, "run", "-c", str(config), "--date", DAY, "--quiet"]
        env = clean_env()
        timings.append(time_command("`dailyfetch --help`", [*dailyfetch, "--help"], env, runs, 0.3))

        recreate_scratch(admin_url)
        external = [*base, "--database-url", scratch_url(admin_url)]
        quiet = {"check": True, "stdout": subprocess.DEVNULL}
        subprocess.run(external, env=env, **quiet)  # the date succeeds once; then every run is a no-op
        timings.append(time_command("no-op `run`, external PostgreSQL", external, env, runs, 1.0))

        embedded_env = clean_env(DAILYFETCH_HOME=str(Path(tmp) / "home"))
        started = time.perf_counter()
        subprocess.run(base, env=embedded_env, **quiet)
        first = time.perf_counter() - started
        timings.append(
            Timing("first `run`, embedded (initdb, start, load 200 records)", first, first, first, 1, "once")
        )
        timings.append(
            time_command("no-op `run`, embedded PostgreSQL (warm)", base, embedded_env, runs, None)
        )
    return timings


def table(timings: list[Timing]) -> str:
    lines = [
        "| command | runs | median s | min s | max s | timed with | target |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for t in timings:
        target = "" if t.target is None else f"< {t.target:g} s: {'met' if t.median < t.target else 'MISSED'}"
        lines.append(
            f"| {t.label} | {t.runs} | {t.median:.3f} | {t.low:.3f} | {t.high:.3f} | {t.tool} | {target} |"
        )
    return "\n".join(lines)
