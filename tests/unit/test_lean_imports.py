"""structlog and httpx load without rich or click on the CLI's path; rich stays importable afterwards."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from dailyfetch.lean_imports import lean_import
lean_import("structlog", "dailyfetch.log")
lean_import("httpx", "dailyfetch.config_file", "dailyfetch.runner")
print(*("rich" in sys.modules, "click" in sys.modules, "structlog" in sys.modules, "httpx" in sys.modules))
import rich.console
print(rich.console.Console is not None)
"""


def test_run_path_imports_no_rich_and_rich_still_imports() -> None:
    """In a fresh interpreter: the run path's imports leave rich unloaded; ``import rich`` then works."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True", "True", "True"]


def test_run_path_does_not_import_html() -> None:
    """The run path leaves :mod:`html` (and its 2 ms entity table) unloaded: secrets' HTML forms need no import."""
    code = "import sys\nfrom dailyfetch.lean_imports import lean_import\n"
    code += "lean_import('httpx', 'dailyfetch.config_file', 'dailyfetch.runner')\n"
    code += "import dailyfetch.redact, dailyfetch.fetch.rest, dailyfetch.claims\nprint('html' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_run_path_defers_httpcore_to_the_client() -> None:
    """The run path's imports leave httpcore unloaded (it loads with the first client, beside the database set-up)."""
    code = "import sys\nfrom dailyfetch.lean_imports import lean_import\n"
    code += "lean_import('httpx', 'dailyfetch.config_file', 'dailyfetch.runner')\n"
    code += "print('httpcore' in sys.modules)\n"
    code += "from dailyfetch.fetch.http import build_client\nbuild_client(connect_timeout=1, read_timeout=1).close()\n"
    code += "print('httpcore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_nothing_is_hidden_when_rich_is_already_loaded() -> None:
    """If rich was imported first, the helper leaves sys.modules alone."""
    code = "import rich, sys\nfrom dailyfetch.lean_imports import lean_import\n"
    code += "lean_import('structlog')\nprint(sys.modules['rich'] is rich)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_collector_is_paused_while_importing_then_restored() -> None:
    """No collection runs during the imports; what they built is frozen; the collector is back on."""
    code = (
        "import gc, sys\nfrom dailyfetch.lean_imports import lean_import\n"
        "before = [s['collections'] for s in gc.get_stats()]\n"
        "lean_import('pydantic', 'psycopg', 'httpx')\n"
        "after = [s['collections'] for s in gc.get_stats()]\n"
        "print(before == after, gc.isenabled(), gc.get_freeze_count() > 10000)\n"
        "gc.disable()\nlean_import('tomllib')\nprint(gc.isenabled())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True", "False"]
