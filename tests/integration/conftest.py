"""Fixtures for integration tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write config text to a file in a temporary folder and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "dailyfetch.toml"
        path.write_text(text)
        return path

    return write
