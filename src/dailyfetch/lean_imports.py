"""Import the run path's libraries quickly: without extras dailyfetch never uses, and without GC.

Two things slow a run's start-up, before its first request:

* **Eager extras.** structlog's console renderer imports rich (for rich tracebacks;
  dailyfetch formats exceptions itself with ``format_exc_info``, then redacts them), and
  httpx imports its command-line client (``httpx._main``: rich, click and pygments).
  That was about 0.1 s. These are hidden only while those libraries are first imported:
  rich stays importable for what does use it (the TTY progress display, tables).
* **The cyclic garbage collector.** Importing pydantic, psycopg and httpx allocates some
  hundred thousand objects, and the collector ran full collections over them as they
  arrived: 40-50 ms of a run's start-up (benchmarks/README.md). Imports create no
  garbage worth collecting, so the collector is paused while they run, and what they
  built is then moved out of its sight for good (:func:`gc.freeze`): later collections,
  during the run, no longer re-scan the libraries' objects.
"""

from __future__ import annotations

import gc
import importlib
import sys

# Imported only by httpx's command-line client, which dailyfetch does not use.
_UNUSED_EXTRAS = ("rich", "click", "pygments")


def lean_import(*modules: str) -> None:
    """Import ``modules`` with the collector paused and the unused extras hidden, then freeze.

    An extra that is already loaded is not hidden (nor re-imported); modules already
    loaded cost nothing.
    """
    if all(m in sys.modules for m in modules):
        return
    hidden = [name for name in _UNUSED_EXTRAS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # ``import name`` raises ImportError
    enabled = gc.isenabled()
    gc.disable()
    try:
        for module in modules:
            importlib.import_module(module)
    finally:
        for name in hidden:
            del sys.modules[name]
        gc.freeze()
        if enabled:
            gc.enable()
