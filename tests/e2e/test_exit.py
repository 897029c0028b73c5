"""The CLI's fast exit: it never hangs on threads a source left behind, and it keeps exit codes."""

from __future__ import annotations

from pathlib import Path

from support.cli import run_cli


def test_a_source_that_leaves_an_idle_executor_does_not_hang_the_exit(tmp_path: Path, db_url: str) -> None:
    """A Python source keeping a ThreadPoolExecutor in a module global (as apprise does) still exits 0."""
    (tmp_path / "leaky.py").write_text(
        "from concurrent.futures import ThreadPoolExecutor\n"
        "POOL = ThreadPoolExecutor(1)\n"
        "def fetch(ctx):\n"
        "    POOL.submit(int).result()\n"
        "    yield {'id': 1}\n"
    )
    config = tmp_path / "dailyfetch.toml"
    config.write_text(
        '[job]\nname = "leaky"\n[source]\nkind = "python"\nfunction = "leaky:fetch"\n'
        '[destination]\ntable = "leaky"\nprimary_key = ["id"]\n'
    )
    done = run_cli("run", "-c", str(config), "--date", "2026-11-01", "--database-url", db_url, timeout=60)
    assert done.returncode == 0, done.stderr
    again = run_cli("run", "-c", str(config), "--date", "2026-11-01", "--database-url", db_url, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "already succeeded" in again.stderr
