"""dailyfetch: fetch an HTTP API every day and land it exactly once in PostgreSQL.

The names a job author needs are re-exported here; everything else is internal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Checkpoint",
    "ConfigError",
    "DailyfetchError",
    "FetchContext",
    "LoadError",
    "SourceError",
    "TransientSourceError",
    "__version__",
    "load_config",
    "run_job",
]

if TYPE_CHECKING:
    from dailyfetch.config_file import load_config
    from dailyfetch.errors import (
        ConfigError,
        DailyfetchError,
        LoadError,
        SourceError,
        TransientSourceError,
    )
    from dailyfetch.fetch.source import Checkpoint, FetchContext
    from dailyfetch.runner import run_job

_LAZY = {
    "Checkpoint": "dailyfetch.fetch.source",
    "FetchContext": "dailyfetch.fetch.source",
    "ConfigError": "dailyfetch.errors",
    "DailyfetchError": "dailyfetch.errors",
    "LoadError": "dailyfetch.errors",
    "SourceError": "dailyfetch.errors",
    "TransientSourceError": "dailyfetch.errors",
    "load_config": "dailyfetch.config_file",
    "run_job": "dailyfetch.runner",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use, so the CLI starts fast."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dailyfetch' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
