"""Run the installed dailyfetch command in a subprocess; skip-or-fail for missing tools."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

STRICT = os.environ.get("DAILYFETCH_STRICT") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it when DAILYFETCH_STRICT=1 (as in CI)."""
    if STRICT:
        pytest.fail(f"DAILYFETCH_STRICT=1 and {reason}")
    pytest.skip(reason)


def dailyfetch_exe() -> list[str]:
    """The installed command, or ``python -m dailyfetch`` next to this interpreter."""
    exe = shutil.which("dailyfetch", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "dailyfetch"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the dailyfetch CLI in a subprocess and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*dailyfetch_exe(), *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout
    )
