"""The read-ahead budget: the memory limit read from cgroup files laid out as real hosts lay them
out (a fake root folder per case), and the byte accounting of pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from dailyfetch.fetch.budget import (
    MiB,
    PageBudget,
    memory_limit,
    page_cost,
    read_ahead_budget,
)
from dailyfetch.stopping import StopToken

GiB = 1024 * MiB
V1_UNLIMITED = "9223372036854771712"


def host(root: Path, *, cgroup: str, mounts: list[str], files: dict[str, str], ram: int = 16 * GiB) -> Path:
    """A fake root: ``proc/self/cgroup``, ``proc/self/mountinfo``, ``proc/meminfo`` and cgroup files."""
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(cgroup)
    (root / "proc/self/mountinfo").write_text(
        "".join(f"{i + 20} 1 0:{i + 30} {m}\n" for i, m in enumerate(mounts))
    )
    (root / "proc/meminfo").write_text(f"MemTotal:       {ram // 1024} kB\nMemFree:  1 kB\n")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


V2_MOUNT = "/ /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate"


def test_cgroup_v2_in_its_own_namespace_fargate(tmp_path: Path) -> None:
    """A Fargate task (cgroup v2, namespaced: the task's cgroup is the mount's root): memory.max."""
    root = host(tmp_path, cgroup="0::/\n", mounts=[V2_MOUNT], files={"sys/fs/cgroup/memory.max": "536870912"})
    assert memory_limit(root) == 512 * MiB
    assert read_ahead_budget(memory_limit(root)) == 128 * MiB


def test_cgroup_v2_without_a_namespace_takes_the_tightest_ancestor(tmp_path: Path) -> None:
    """Seen from the host's hierarchy: the task's own memory.max is "max", its parent's is the limit."""
    files = {
        "sys/fs/cgroup/ecs/task-1/memory.max": "1073741824",
        "sys/fs/cgroup/ecs/task-1/app/memory.max": "max",
        "sys/fs/cgroup/memory.max": "max",
    }
    root = host(tmp_path, cgroup="0::/ecs/task-1/app\n", mounts=[V2_MOUNT], files=files)
    assert memory_limit(root) == GiB


def test_cgroup_v1_on_a_hybrid_host(tmp_path: Path) -> None:
    """v1 memory controller at /sys/fs/cgroup/memory, cgroup2 (no memory controller) at .../unified."""
    mounts = [
        "/ /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
        "/ /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
        "/ /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
    ]
    files = {
        "sys/fs/cgroup/memory/memory.limit_in_bytes": V1_UNLIMITED,
        "sys/fs/cgroup/memory/jobs/memory.limit_in_bytes": "268435456",
        "sys/fs/cgroup/memory/jobs/one/memory.limit_in_bytes": V1_UNLIMITED,
        "sys/fs/cgroup/cpu/jobs/one/memory.limit_in_bytes": "1",  # not the memory hierarchy: ignored
    }
    cgroup = "5:cpu:/jobs/one\n4:memory:/jobs/one\n0::/jobs/one\n"
    assert memory_limit(host(tmp_path, cgroup=cgroup, mounts=mounts, files=files)) == 256 * MiB


def test_cgroup_v1_in_a_docker_container_whose_mount_root_is_its_cgroup(tmp_path: Path) -> None:
    """Docker without a cgroup namespace: /proc/self/cgroup names /docker/abc, which is the mount's root."""
    mounts = ["/docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory"]
    files = {"sys/fs/cgroup/memory/memory.limit_in_bytes": "805306368"}
    root = host(tmp_path, cgroup="9:memory:/docker/abc\n", mounts=mounts, files=files)
    assert memory_limit(root) == 768 * MiB


def test_a_mount_point_with_a_space_is_unescaped(tmp_path: Path) -> None:
    """mountinfo writes a space in a path as \\040."""
    mounts = ["/ /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw"]
    root = host(tmp_path, cgroup="0::/\n", mounts=mounts, files={"sys/fs/my cgroup/memory.max": "300000000"})
    assert memory_limit(root) == 300_000_000


def test_no_limit_anywhere_is_the_machines_ram(tmp_path: Path) -> None:
    """ "max" and v1's unlimited marker are no limit: the RAM is the limit."""
    mounts = [V2_MOUNT, "/ /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory"]
    files = {"sys/fs/cgroup/memory.max": "max", "sys/fs/cgroup/memory/memory.limit_in_bytes": V1_UNLIMITED}
    root = host(tmp_path, cgroup="0::/\n4:memory:/\n", mounts=mounts, files=files, ram=8 * GiB)
    assert memory_limit(root) == 8 * GiB
    assert read_ahead_budget(8 * GiB) == 2 * GiB


def test_nothing_readable_gives_a_fixed_budget(tmp_path: Path) -> None:
    """Not Linux, or /proc hidden: no limit is known, and the budget is 1 GiB."""
    assert memory_limit(tmp_path) is None
    assert read_ahead_budget(None) == GiB
    assert read_ahead_budget(32 * MiB) == 16 * MiB  # never below 16 MiB


def test_a_512_mib_task_holds_three_pages_of_5_5_mb_ahead() -> None:
    """The issue's case: 5.5 MB pages decoded as dicts (7 x the body each) in a 512 MiB task."""
    budget = PageBudget(read_ahead_budget(512 * MiB))
    first = budget.try_reserve()  # no page seen yet: the first request goes alone
    assert first is not None and budget.try_reserve() is None
    cost = page_cost(5_500_000, typed=False)
    budget.settle(first, cost)
    held = [first]
    while (ticket := budget.try_reserve()) is not None:
        held.append(ticket)
    assert len(held) == 128 * MiB // cost == 3
    assert budget.reserved <= budget.total


def test_before_any_page_a_small_budget_sends_one_request_a_large_one_a_window() -> None:
    """Under 1 GiB of budget the first request goes alone; above it, requests are reckoned at 64 MiB."""
    small = PageBudget(read_ahead_budget(3 * GiB))
    assert small.try_reserve() is not None and small.try_reserve() is None
    large = PageBudget(read_ahead_budget(6 * GiB))
    assert sum(large.try_reserve() is not None for _ in range(100)) == 1536 // 64


def test_a_page_larger_than_the_budget_is_fetched_alone() -> None:
    """A fetcher holding nothing may always take one page: a page that fits in memory once is fetched."""
    budget = PageBudget(16 * MiB)
    ticket = budget.reserve(StopToken())
    budget.settle(ticket, 100 * MiB)  # far past the budget
    assert budget.try_reserve() is None
    budget.release(ticket)
    budget.release(ticket)  # idempotent
    assert budget.reserved == 0
    alone = budget.reserve(StopToken())
    assert alone.amount == 100 * MiB  # reckoned at the largest page seen


def test_waiting_for_the_budget_ends_with_the_run() -> None:
    """A fetcher waiting for others' pages to be consumed stops when the run must stop."""
    from dailyfetch.errors import RunInterrupted

    budget = PageBudget(64 * MiB)
    budget.force_reserve()
    stop = StopToken()
    stop.request("test")
    with pytest.raises(RunInterrupted):
        budget.reserve(stop)


def test_worker_processes_of_one_container_split_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run --workers N`` children each take 1/N of the read-ahead budget, not all of it."""
    from dailyfetch.fetch.budget import SHARE_ENV, process_memory_limit

    whole = read_ahead_budget(process_memory_limit())
    monkeypatch.setenv(SHARE_ENV, "4")
    assert PageBudget.for_this_process().total == max(whole // 4, 16 * MiB)
    monkeypatch.setenv(SHARE_ENV, "not a number")
    assert PageBudget.for_this_process().total == whole


def test_run_workers_tells_its_children_how_many_share_the_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The children of ``run --workers 3`` are started with the share variable set to 3."""
    import subprocess

    from dailyfetch import fanout
    from dailyfetch.fetch.budget import SHARE_ENV

    started: list[dict[str, str]] = []

    class Child:
        def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
            started.append(env or {})

        def wait(self) -> int:
            return 0

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", Child)
    assert fanout.run_workers(["run", "--help"], 3) == 0
    assert [env.get(SHARE_ENV) for env in started] == ["3", "3", "3"]
