"""A run inside a 512 MiB memory cgroup (a Fargate task's limit) with 5.5 MB pages at concurrency 16:
the read-ahead budget follows the cgroup's limit, so the run is not OOM-killed and every row lands."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from support.big_pages import PER_PAGE, BigPagesAPI
from support.cli import dailyfetch_exe, skip_or_fail

LIMIT = 512 * 1024 * 1024


def own_memory_cgroup() -> Path | None:
    """This process's cgroup v1 memory folder, where a child group with a lower limit can be made."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            return folder if (folder / "memory.limit_in_bytes").exists() else None
    return None


@pytest.fixture
def memory_cgroup() -> Iterator[Path]:
    """A child of this process's memory cgroup limited to 512 MiB (no swap); removed afterwards."""
    parent = own_memory_cgroup()
    if parent is None or not os.access(parent, os.W_OK):
        skip_or_fail("no writable cgroup v1 memory hierarchy (needs root on a cgroup v1 host)")
        raise AssertionError
    group = parent / f"dailyfetch-test-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(LIMIT))
        if (group / "memory.memsw.limit_in_bytes").exists():
            (group / "memory.memsw.limit_in_bytes").write_text(str(LIMIT))
        yield group
    finally:
        group.rmdir()  # empty by now: the run inside it has exited


@pytest.mark.parametrize(
    ("per_page", "pages"),
    [(PER_PAGE, 40), (4 * PER_PAGE, 6)],
    ids=["5.5 MB pages", "22 MB pages"],
)
def test_a_512_mib_task_survives_big_pages_at_concurrency_16(
    per_page: int, pages: int, tmp_path: Path, memory_cgroup: Path, db_url: str
) -> None:
    """Pages of 5.5 MB (40 of them) or 22 MB (6: one fits in 512 MiB at concurrency 1) at concurrency
    16 in 512 MiB: exit 0 and every row, where the pages the request window alone queues (32 of them)
    would need gigabytes once decoded."""
    api = BigPagesAPI(pages, per_page)
    config = tmp_path / "dailyfetch.toml"
    config.write_text(
        '[job]\nname = "big"\n[source]\nkind = "rest"\n'
        f'url = "{api.url}/items"\nrecords = "items"\npagination = {{ kind = "page_number" }}\n'
        'concurrency = 16\n[destination]\ntable = "big"\nprimary_key = ["id"]\n'
    )
    enter = f'echo $$ > {memory_cgroup}/cgroup.procs && exec "$@"'
    command = ["sh", "-c", enter, "sh", *dailyfetch_exe(), "run", "-c", str(config), "--date", "2026-11-01"]
    try:
        done = subprocess.run(
            [*command, "--database-url", db_url], capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        api.stop()
    peak = int((memory_cgroup / "memory.max_usage_in_bytes").read_text()) // (1024 * 1024)
    print(
        f"MEMORY | {per_page} records a page | exit {done.returncode} | cgroup peak {peak} MiB of 512 | {api.requested} requests"
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT id) FROM big").fetchone()
    assert row == (pages * per_page, pages * per_page)
