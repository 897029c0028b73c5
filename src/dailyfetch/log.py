"""Logging: structlog to stderr, readable on a TTY, one JSON object per line otherwise.

Every event passes :func:`redact_processor` before it is rendered, so a secret
that reaches a log call in any position (the message, a field, a nested dict,
an exception) is printed as ``***``. Event names are stable: ``run.started``,
``partition.started``, ``batch.committed``, ``partition.done``,
``partition.failed``, ``run.finished`` (the one summary line per run),
``run.skipped``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog

from dailyfetch.redact import redact


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_scrub(v) for v in value]
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    if value is None or isinstance(value, int | float | bool):
        return value
    return redact(str(value))


def redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: replace every registered secret in the event with ``***``."""
    scrubbed: dict[str, Any] = _scrub(event_dict)
    return scrubbed


def _json_dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def configure_logging(*, debug: bool = False, json_logs: bool | None = None, quiet: bool = False) -> None:
    """Route dailyfetch's logs to stderr; JSON lines unless stderr is a TTY."""
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    renderer: Any
    if json_logs:
        renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=True)
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    processors += [structlog.processors.format_exc_info, redact_processor, renderer]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
