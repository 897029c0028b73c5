"""``dailyfetch init``: write a commented ``dailyfetch.toml`` from one sample page of an API.

Registered on the main ``dailyfetch`` app (see :mod:`dailyfetch.cli`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dailyfetch.cli import DatabaseOption, DebugOption, _guard, _setup, app

__all__ = ["app", "init"]


@app.command()
def init(
    url: Annotated[
        str,
        typer.Argument(
            metavar="URL",
            help="The first page's URL; its query string becomes [source.params].",
            show_default=False,
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="K=V", help="A query parameter k=v (repeatable)."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", "-H", metavar="K=V", help="A request header k=v or 'Name: value' (repeatable)."
        ),
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="The config file to write.")] = Path(
        "dailyfetch.toml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output file if it exists.")] = False,
    database_url: DatabaseOption = None,
    debug: DebugOption = False,
) -> None:
    """Fetch one page of URL and write a commented config for it, then check it.

    Guesses the records path, pagination, primary key, column types, dates to
    template and an incremental cursor, and prints each guess with its reason.
    Secrets given in --header (and auth-looking --param values) are written as
    ${ENV} references, never literally. Nothing runs: review the file, then run.

    Example: dailyfetch init https://api.github.com/repos/OWNER/REPO/issues -p per_page=100 -H "Authorization: Bearer $GITHUB_TOKEN"
    """
    _setup(debug, quiet=True)

    def action() -> None:
        from dailyfetch.init_write import check_written, write_config_from_sample

        result = write_config_from_sample(
            url, params=param or [], headers=header or [], output=output, force=force
        )
        out = sys.stdout.write
        for line in result.guesses:
            out(f"{line}\n")
        out(f"wrote {result.path}: review it, then 'dailyfetch run -c {result.path}'\n")
        if result.env_names:
            out(f"set before running: {' '.join(f'{name}=...' for name in result.env_names)}\n")
        out(f"\ndailyfetch check -c {result.path}:\n")
        sys.stdout.flush()
        try:
            check_written(result, database_url=database_url)
        except Exception:
            sys.stderr.write(
                f"the file was written; fix the problem below, then 'dailyfetch check -c {result.path}'\n"
            )
            raise

    _guard(debug, action)
