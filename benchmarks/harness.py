"""What every benchmark shares: the fake API process, the scratch database, child measurement.

* :class:`FakeServer` starts ``fakeserver.py`` in a process of its own and reads its
  request and 429 counters.
* :func:`recreate_scratch` gives each run an empty database ``dailyfetch_bench``.
* :func:`run_child` runs one loader as a child process and polls its peak RSS
  (``VmHWM`` in ``/proc/<pid>/status``).
* :func:`bench_python` creates ``benchmarks/.venv-dlt`` from ``requirements/bench.txt``
  on first use (dlt, requests, psycopg, py-spy), apart from the project's own venv.
"""

from __future__ import annotations

import compileall
import contextlib
import functools
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SCRATCH_DB = "dailyfetch_bench"
BENCH_VENV = HERE / ".venv-dlt"
BENCH_REQUIREMENTS = REPO / "requirements" / "bench.txt"


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the Markdown."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- fake API process


class FakeServer:
    """``fakeserver.py`` in its own process; see that module for the spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        argv = [sys.executable, str(HERE / "fakeserver.py"), json.dumps(spec)]
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise SystemExit("the fake API did not start (see its traceback above)")
        self._client = httpx.Client(base_url=self.url, timeout=10)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def reset(self) -> None:
        """Zero the counters and empty the rate window."""
        self._client.get("/_reset").raise_for_status()

    def stats(self) -> dict[str, float]:
        """Requests, 429s, most and mean requests in flight, since the last reset."""
        response = self._client.get("/_stats")
        response.raise_for_status()
        return {k: float(v) for k, v in response.json().items()}

    def stop(self) -> None:
        if hasattr(self, "_client"):
            self._client.close()
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------- scratch database


def scratch_url(admin_url: str, *, password: str | None = None) -> str:
    """The admin URL as a ``postgresql://`` URL of the scratch database (adding ``password``
    when it has none: dlt insists on one even under trust authentication)."""
    info = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(admin_url).items() if v is not None}
    info.pop("dbname", None)
    if password and not info.get("password"):
        info["password"] = password
    user = quote(info.pop("user", "postgres"), safe="")
    secret = info.pop("password", None)
    auth = f"{user}:{quote(secret, safe='')}" if secret else user
    host, port = info.pop("host", "127.0.0.1"), info.pop("port", "5432")
    if host.startswith("/"):  # a Unix socket folder goes in the query string
        info["host"], host = host, ""
    query = urlencode(info)
    return f"postgresql://{auth}@{host}:{port}/{SCRATCH_DB}" + (f"?{query}" if query else "")


def recreate_scratch(admin_url: str, *, drop_only: bool = False) -> None:
    """Drop the scratch database and, unless ``drop_only``, create it empty and checkpoint."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        name = sql.Identifier(SCRATCH_DB)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
            with contextlib.suppress(psycopg.Error):  # no dirty buffers left over (needs superuser)
                conn.execute("CHECKPOINT")


def count_rows(url: str, schema: str, table: str) -> int:
    """``count(*)`` of ``schema.table``, 0 if it does not exist."""
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()
        if not found or found[0] is None:
            return 0
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
        ).fetchone()
    return int(row[0]) if row else 0


def server_version(admin_url: str) -> str:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# ---------------------------------------------------------------- child measurement


@dataclass(frozen=True)
class Measurement:
    """One run of one system."""

    seconds: float
    peak_rss_kib: int
    rows: int
    requests: int = 0
    status_429: int = 0
    mean_in_flight: float = 0.0  # as the fake API saw it


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


def run_child(argv: list[str], *, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run ``argv``; return its wall seconds and peak RSS (KiB); raise if it fails.

    The peak is polled every 10 ms from ``/proc/<pid>/status`` rather than taken from
    ``wait4``: on Linux a child's ``ru_maxrss`` starts from its parent's high-water mark.
    """
    if not Path("/proc/self/status").exists():
        raise SystemExit("peak RSS is read from /proc/<pid>/status: run this on Linux")
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, peak_rss_kib(proc.pid))
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace").strip().splitlines()[-8:]
            raise SystemExit(f"{' '.join(argv[:3])} ... exited {proc.returncode}:\n" + "\n".join(tail))
    return seconds, peak


def median(values: list[float]) -> float:
    return float(statistics.median(values))


# ---------------------------------------------------------------- executables


def dailyfetch_command() -> list[str]:
    """The installed ``dailyfetch`` next to this interpreter, else ``python -m dailyfetch``.

    Its modules are byte-compiled first (once), as ``pip install`` does for a wheel, the
    way the container image runs it. An editable install under
    ``PYTHONDONTWRITEBYTECODE=1`` (set on this project's machines) would otherwise
    compile every module it imports on every run: about 50 ms of each run's start-up.
    """
    _byte_compile_dailyfetch()
    exe = shutil.which("dailyfetch", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "dailyfetch"]


@functools.cache
def _byte_compile_dailyfetch() -> None:
    spec = importlib.util.find_spec("dailyfetch")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        compileall.compile_dir(folder, quiet=1)


def bench_python() -> str:
    """The interpreter of ``benchmarks/.venv-dlt``, created or refreshed from requirements/bench.txt."""
    python = BENCH_VENV / "bin" / "python"
    marker = BENCH_VENV / ".requirements"
    wanted = BENCH_REQUIREMENTS.read_text(encoding="utf-8")
    if python.exists() and marker.exists() and marker.read_text(encoding="utf-8") == wanted:
        return str(python)
    log(f"creating {BENCH_VENV.relative_to(REPO)} from {BENCH_REQUIREMENTS.relative_to(REPO)} ...")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-qq", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(BENCH_REQUIREMENTS)], check=True)
    marker.write_text(wanted, encoding="utf-8")
    return str(python)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without database URLs (they would redirect a loader), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAILYFETCH_DATABASE_URL")}
    env.update(extra)
    return env
