"""Python sources: a function that yields records (dicts) and, optionally, checkpoints.

``kind = "python"`` with ``function = "package.module:fetch"``. The function
receives a :class:`~dailyfetch.fetch.source.FetchContext` and yields dicts,
with an occasional :class:`~dailyfetch.fetch.source.Checkpoint`. Progress is
stored as ``{"checkpoint": <last checkpoint>, "skip": <records since it>}``. A
resumed run calls the function again with ``ctx.checkpoint`` set and drops the
first ``skip`` records it yields, so a function that never checkpoints still
resumes exactly, provided it yields the same records in the same order.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from dailyfetch.errors import ConfigError, SourceError
from dailyfetch.fetch.source import Checkpoint, FetchContext, Page, PageIterator, Record

SourceFunction = Callable[[FetchContext], Iterable[Record | Checkpoint]]
_CHUNK = 1000


def load_function(reference: str, search_path: Path | None = None) -> SourceFunction:
    """Import ``package.module:function``; the config file's folder is importable."""
    module_name, _, attribute = reference.partition(":")
    if search_path is not None and str(search_path) not in sys.path:
        sys.path.insert(0, str(search_path))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"source.function: cannot import module '{module_name}': {exc}") from None
    except Exception as exc:  # a syntax error or a failing import-time statement in user code
        where = f" ({exc.filename}, line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
        raise ConfigError(
            f"source.function: importing '{module_name}' failed: {type(exc).__name__}: {exc}{where}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError(f"source.function: '{module_name}' has no attribute '{attribute}'")
    if not callable(target):
        raise ConfigError(f"source.function: '{reference}' is not callable")
    func: SourceFunction = target
    return func


def fetch_python_pages(
    function: SourceFunction, ctx: FetchContext, resume: dict[str, Any] | None
) -> PageIterator:
    """Run ``function`` and group what it yields into resumable pages."""
    checkpoint = resume.get("checkpoint") if resume else None
    to_skip = int(resume.get("skip", 0)) if resume else 0
    since_checkpoint = to_skip
    ctx.checkpoint = checkpoint
    chunk: list[Record] = []
    produced = function(ctx)
    if not isinstance(produced, Iterable):
        raise SourceError(f"source.function returned {type(produced).__name__}; it must yield dicts")
    started = False  # whether anything but a repeat of the resumed checkpoint has been yielded
    for item in produced:
        if isinstance(item, Checkpoint):
            if not started and resume is not None and item.value == checkpoint:
                continue  # the function restating where it resumes: the skip count still applies
            started = True
            if chunk:
                yield Page(chunk, {"checkpoint": checkpoint, "skip": since_checkpoint})
                chunk = []
            checkpoint, since_checkpoint, to_skip = item.value, 0, 0
            yield Page([], {"checkpoint": checkpoint, "skip": 0})
            continue
        started = True
        if to_skip:
            to_skip -= 1
            continue
        if not isinstance(item, dict):
            raise SourceError(f"source.function yielded a {type(item).__name__}; records must be dicts")
        chunk.append(item)
        since_checkpoint += 1
        if len(chunk) >= _CHUNK:
            yield Page(chunk, {"checkpoint": checkpoint, "skip": since_checkpoint})
            chunk = []
    if chunk:
        yield Page(chunk, {"checkpoint": checkpoint, "skip": since_checkpoint})
    yield Page([], {"done": True})
