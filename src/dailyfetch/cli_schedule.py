"""Commands registered on the main ``dailyfetch`` app (see :mod:`dailyfetch.cli`)."""

from __future__ import annotations

from dailyfetch.cli import app

__all__ = ["app"]
