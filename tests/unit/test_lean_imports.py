"""structlog and httpx load without rich on the CLI's path; rich stays importable afterwards."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from dailyfetch.lean_imports import import_without_rich
import_without_rich("structlog", "httpx")
import dailyfetch.log, dailyfetch.runner
print("rich" in sys.modules, "structlog" in sys.modules, "httpx" in sys.modules)
import rich.console
print(rich.console.Console is not None)
"""


def test_run_path_imports_no_rich_and_rich_still_imports() -> None:
    """In a fresh interpreter: the run path's imports leave rich unloaded; ``import rich`` then works."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True", "True"]


def test_nothing_is_hidden_when_rich_is_already_loaded() -> None:
    """If rich was imported first, the helper leaves sys.modules alone."""
    code = "import rich, sys\nfrom dailyfetch.lean_imports import import_without_rich\n"
    code += "import_without_rich('structlog')\nprint(sys.modules['rich'] is rich)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
