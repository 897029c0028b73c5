"""Import libraries without the optional extras they load eagerly and dailyfetch never uses.

Two libraries import rich at import time for features outside dailyfetch's path:
structlog's console renderer (rich tracebacks; dailyfetch formats exceptions itself with
``format_exc_info``, then redacts them) and httpx's command-line client (``httpx._main``).
That is about 0.1 s of every run's start-up, before its first request. Rich stays
importable for what does use it (the TTY progress display, tables): it is hidden only
while those libraries are first imported.
"""

from __future__ import annotations

import importlib
import sys


def import_without_rich(*modules: str) -> None:
    """Import ``modules`` with ``import rich`` failing, unless rich or they are already loaded."""
    if "rich" in sys.modules or all(m in sys.modules for m in modules):
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # ``import rich`` raises ImportError
    try:
        for module in modules:
            importlib.import_module(module)
    finally:
        del sys.modules["rich"]
