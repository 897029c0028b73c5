"""``dailyfetch report``: the run history as one self-contained HTML file.

Registered on the main ``dailyfetch`` app (see :mod:`dailyfetch.cli`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dailyfetch.cli import ConfigOption, DatabaseOption, DebugOption, _guard, _load, _setup, app

__all__ = ["app", "report"]


@app.command()
def report(
    config: ConfigOption = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the HTML file.")] = Path(
        "report.html"
    ),
    days: Annotated[
        int, typer.Option("--days", min=1, max=3660, help="How many logical dates the calendar shows.")
    ] = 90,
    database_url: DatabaseOption = None,
    debug: DebugOption = False,
) -> None:
    """Write the run history as one HTML file: calendar, rows and duration charts, failures, schedule.

    The file needs no network: CSS and SVG are inline. Open it in any browser.

    Example: dailyfetch report -c dailyfetch.toml -o report.html --days 60
    """
    _setup(debug, quiet=True)

    def action() -> None:
        from dailyfetch.report import write_report

        written = write_report(_load(config), output, days=days, database_url=database_url)
        sys.stdout.write(f"wrote {written} ({days} days); open it in a browser\n")

    _guard(debug, action)
