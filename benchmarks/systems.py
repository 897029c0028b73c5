"""The systems compared, each run as a child process against the fake API and the scratch database.

Each system turns a :class:`Case` (a data set on the fake API) into a command line and
says where its rows land; :func:`measure` runs it once and checks the row count.
"""

from __future__ import annotations

import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    HERE,
    FakeServer,
    Measurement,
    bench_python,
    clean_env,
    count_rows,
    dailyfetch_command,
    recreate_scratch,
    run_child,
    scratch_url,
)

LOADERS = HERE / "loaders"


@dataclass(frozen=True)
class Case:
    """One data set on the fake API: its date, records per partition, page size."""

    api: FakeServer
    admin_url: str
    date: str
    sizes: dict[str, int]
    page_size: int

    @property
    def records(self) -> int:
        return sum(self.sizes.values())

    @property
    def pages(self) -> int:
        """Pages holding records (the empty page that ends a partition not counted)."""
        return sum(math.ceil(n / self.page_size) for n in self.sizes.values())

    @property
    def scratch(self) -> str:
        return scratch_url(self.admin_url)


@dataclass(frozen=True)
class System:
    """A loader: how to launch it, where its rows land, requests in flight, slow or not."""

    name: str
    concurrency: int
    slow: bool = False  # slow systems run --slow-runs times, not --runs
    schema: str = "public"
    table: str = "bench"
    profile_dir: Path | None = field(default=None, compare=False)

    def command(self, case: Case, workdir: Path) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError


@dataclass(frozen=True)
class Dailyfetch(System):
    """``dailyfetch run`` with a generated config: offset pages, merge on ``id``."""

    requests_per_second: float | None = None
    batch_size: int | None = None

    def config(self, case: Case) -> str:
        names = ", ".join(f'"{p}"' for p in case.sizes)
        extra = f"requests_per_second = {self.requests_per_second}\n" if self.requests_per_second else ""
        batch = f"batch_size = {self.batch_size}\n" if self.batch_size else ""
        return f"""\
[job]
name = "bench"

[source]
kind = "rest"
url = "{case.api.url}/offset/{{date}}/{{part}}"
records = "items"
pagination = {{ kind = "offset", param = "offset", limit_param = "limit", limit = {case.page_size} }}
concurrency = {self.concurrency}
{extra}
[source.partitions]
part = [{names}]

[destination]
table = "bench"
primary_key = ["id"]
write = "merge"
{batch}"""

    def command(self, case: Case, workdir: Path) -> tuple[list[str], dict[str, str]]:
        config = workdir / "dailyfetch.toml"
        config.write_text(self.config(case), encoding="utf-8")
        argv = [*dailyfetch_command(), "run", "-c", str(config), "--date", case.date]
        argv += ["--database-url", case.scratch, "--quiet"]
        if self.profile_dir is not None:
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            runs = len(list(self.profile_dir.glob("*.svg")))
            out = self.profile_dir / f"dailyfetch-{case.records}-c{self.concurrency}-{runs + 1}.svg"
            argv = [
                str(Path(bench_python()).parent / "py-spy"),
                "record",
                "--threads",
                "-o",
                str(out),
                "--",
                *argv,
            ]
        return argv, clean_env()


@dataclass(frozen=True)
class Raw(System):
    """The raw limit: threaded httpx, COPY into an UNLOGGED jsonb table."""

    table: str = "raw"

    def command(self, case: Case, workdir: Path) -> tuple[list[str], dict[str, str]]:
        parts = ",".join(f"{p}={n}" for p, n in case.sizes.items())
        argv = [sys.executable, str(LOADERS / "raw_copy.py"), case.api.url, case.scratch, case.date, parts]
        argv += [str(case.page_size), str(self.concurrency)]
        return argv, clean_env()


@dataclass(frozen=True)
class Handwritten(System):
    """requests + one INSERT ... ON CONFLICT per record, a commit per page (bench venv)."""

    def command(self, case: Case, workdir: Path) -> tuple[list[str], dict[str, str]]:
        argv = [bench_python(), str(LOADERS / "handwritten.py"), case.api.url, case.scratch, case.date]
        argv += [",".join(case.sizes), str(case.page_size)]
        return argv, clean_env()


@dataclass(frozen=True)
class Dlt(System):
    """dlt's rest_api source, merge on id, ``parallelized=True`` (bench venv)."""

    schema: str = "dlt_bench"

    def command(self, case: Case, workdir: Path) -> tuple[list[str], dict[str, str]]:
        dsn = scratch_url(case.admin_url, password="dummy")  # dlt requires a password, even a dummy
        argv = [bench_python(), str(LOADERS / "dlt_rest_api.py"), case.api.url, dsn, case.date]
        argv += [",".join(case.sizes), str(case.page_size), str(workdir / "dlt-pipelines")]
        return argv, clean_env(RUNTIME__DLTHUB_TELEMETRY="false")


def measure(system: System, case: Case, workdir: Path) -> Measurement:
    """One run of ``system`` on ``case`` into a fresh scratch database; checks every row landed."""
    recreate_scratch(case.admin_url)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    argv, env = system.command(case, workdir)
    case.api.reset()
    seconds, rss = run_child(argv, env=env)
    stats = case.api.stats()
    rows = count_rows(case.scratch, system.schema, system.table)
    if rows != case.records:
        raise SystemExit(f"{system.name} landed {rows} rows, expected {case.records}")
    return Measurement(
        seconds, rss, rows, int(stats["requests"]), int(stats["status_429"]), stats["mean_in_flight"]
    )
