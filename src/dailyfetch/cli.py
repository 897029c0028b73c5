"""The ``dailyfetch`` command line. Each command parses its options and delegates.

Errors become one line on stderr (``Error: ...``) and an exit code: 2 for a
usage or config error, 1 for a failed run. ``--debug`` adds the traceback.
Heavy modules are imported inside the commands so ``dailyfetch --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

app = typer.Typer(
    name="dailyfetch",
    help="Fetch an HTTP API every day and land it exactly once in PostgreSQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from dailyfetch import __version__

        sys.stdout.write(f"dailyfetch {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    # Only --version lives here; the app's help text is the Typer(help=...) above.
    pass


ConfigOption = Annotated[
    Path | None,
    typer.Option("-c", "--config", help="Config file (default: $DAILYFETCH_CONFIG, then ./dailyfetch.toml)."),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL URL (default: $DAILYFETCH_DATABASE_URL, $DATABASE_URL, [database].url, else embedded).",
        show_default=False,
    ),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Log debug events and print tracebacks.")]
T = TypeVar("T")


def _guard(debug: bool, action: Callable[[], T]) -> T:
    """Run ``action``; turn dailyfetch errors into one line on stderr and an exit code."""
    from dailyfetch.errors import DailyfetchError
    from dailyfetch.redact import redact

    try:
        return action()
    except DailyfetchError as exc:
        if debug:
            import traceback

            sys.stderr.write(redact(traceback.format_exc()))
        sys.stderr.write(f"Error: {redact(str(exc))}\n")
        raise typer.Exit(exc.exit_code) from None
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted (SIGINT)\n")
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug or an unmapped library error: still one redacted line
        if debug:
            import traceback

            sys.stderr.write(redact(traceback.format_exc()))
        first = (str(exc).strip().splitlines() or [""])[0]
        sys.stderr.write(f"Error: {type(exc).__name__}: {redact(first)} (run with --debug for details)\n")
        raise typer.Exit(1) from None


def _setup(debug: bool, quiet: bool = False) -> None:
    from dailyfetch.lean_imports import lean_import

    lean_import("structlog", "dailyfetch.log")
    from dailyfetch.log import configure_logging

    configure_logging(debug=debug, quiet=quiet)


def _load(config: Path | None, *, env_required: bool = True) -> Any:
    from dailyfetch.config_file import load_config

    return load_config(config, env_required=env_required)


@app.command()
def run(
    config: ConfigOption = None,
    date: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Logical date YYYY-MM-DD; with an hour [job].window also YYYY-MM-DDTHH[:MM] "
            "(default: [job].logical_date).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Fetch the date again even if it already succeeded.")
    ] = False,
    database_url: DatabaseOption = None,
    debug: DebugOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only log warnings and errors.")] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Worker processes sharing the run's partitions.")
    ] = 1,
    early: Annotated[
        bool,
        typer.Option(
            "--early",
            help="Run a --date whose window has not closed yet (its data may be incomplete, "
            "and the scheduled run will skip it as done).",
        ),
    ] = False,
) -> None:
    """Run the job once for one logical date.

    Exits 0 when the date succeeded, was already done, or is being done by another
    process; 1 when the run failed; 2 on a usage or config error.

    Example: dailyfetch run -c examples/earthquakes.toml --date 2026-11-27
    (an hourly job: --date 2026-11-27T13)
    """
    _setup(debug, quiet)

    def action() -> int:
        from dailyfetch.lean_imports import lean_import

        lean_import("httpx", "dailyfetch.config_file", "dailyfetch.runner")  # see lean_imports
        from dailyfetch.config_file import resolve_config_path
        from dailyfetch.plan import check_not_ahead, parse_logical_time
        from dailyfetch.runner import run_job
        from dailyfetch.window import format_key

        cfg = _load(config)
        day = parse_logical_time(cfg, date) if date else None
        if day is not None and not early:
            check_not_ahead(cfg, day)
        path = resolve_config_path(config)
        if workers > 1:
            from dailyfetch.fanout import run_workers
            from dailyfetch.runner import prepare_run

            day = prepare_run(cfg, logical_date=day, force=force, database_url=database_url)
            argv = ["run", "-c", str(path), "--date", format_key(day)]
            argv += ["--database-url", database_url] if database_url else []
            argv += ["--debug"] if debug else (["--quiet"] if quiet else [])
            argv += ["--early"] if early else []
            return run_workers(argv, workers)
        from dailyfetch.notify import notify_after_run
        from dailyfetch.progress import make_observer

        result = run_job(
            cfg,
            logical_date=day,
            force=force,
            database_url=database_url,
            config_dir=path.resolve().parent,
            observer=make_observer(quiet),
        )
        notify_after_run(cfg, result, database_url=database_url, config_path=path)
        if result.outcome in ("failed", "interrupted"):
            sys.stderr.write(f"Error: {result.error}\n")
        return result.exit_code

    code = _guard(debug, action)
    raise typer.Exit(code)


@app.command()
def runs(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    missing: Annotated[bool, typer.Option("--missing", help="Scheduled dates not yet succeeded.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="With --missing: from YYYY-MM-DD.")] = None,
    database_url: DatabaseOption = None,
    debug: DebugOption = False,
) -> None:
    """Show the run ledger, newest first (or, with --missing, the scheduled dates with no success).

    Example: dailyfetch runs --limit 5 --json
    """
    _setup(debug, quiet=True)

    def action() -> None:
        if missing:
            from dailyfetch.missed import print_missing

            return print_missing(_load(config), since=since, as_json=as_json, database_url=database_url)
        from dailyfetch.show import print_runs

        print_runs(_load(config), limit=limit, as_json=as_json, database_url=database_url)

    _guard(debug, action)


@app.command()
def check(
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
    debug: DebugOption = False,
) -> None:
    """Validate the config, connect to the database and show what a run would do.

    Prints the first partition's request with secrets masked; sends nothing.

    Example: dailyfetch check -c dailyfetch.toml
    """
    _setup(debug, quiet=True)

    def action() -> None:
        from dailyfetch.show import print_check

        print_check(_load(config), database_url=database_url)

    _guard(debug, action)


@app.command()
def peek(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many rows to show.")] = 5,
    database_url: DatabaseOption = None,
    debug: DebugOption = False,
) -> None:
    """Show how many rows the destination table holds, and the first few.

    Example: dailyfetch peek -c examples/earthquakes.toml -n 3
    """
    _setup(debug, quiet=True)

    def action() -> None:
        from dailyfetch.show import print_peek

        print_peek(_load(config), limit=limit, database_url=database_url)

    _guard(debug, action)


@app.command()
def tfvars(
    config: ConfigOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Where to write the tfvars JSON (default: dailyfetch.auto.tfvars.json in ./infra, "
            "or here when this directory holds the Terraform files).",
        ),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Write the job name and schedule for Terraform, so the schedule is written once.

    Example: dailyfetch tfvars -c dailyfetch.toml
    """

    def action() -> None:
        import json

        from dailyfetch.errors import ConfigError

        cfg = _load(config, env_required=False)  # name and schedule only: no secrets needed
        values = {
            "job_name": cfg.job.name,
            "schedule_expression": cfg.schedule.expression,
            "schedule_timezone": cfg.schedule.timezone,
        }
        target = output
        if target is None:  # where Terraform reads it: the directory with the .tf files
            here = Path.cwd()
            folder = here / "infra" if (here / "infra").is_dir() else here
            if not any(folder.glob("*.tf")):
                raise ConfigError(
                    f"no Terraform files in {folder}",
                    hint="run from the repository or infra/, or pass -o FILE",
                )
            target = (folder / "dailyfetch.auto.tfvars.json").relative_to(here)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values, indent=2) + "\n", encoding="utf-8")
        sys.stdout.write(f"wrote {target}\n")

    _guard(debug, action)


# Commands that live in their own modules register themselves on ``app``.
from dailyfetch import cli_init, cli_report, cli_schedule, cli_state  # noqa: E402, F401


def main() -> None:
    """Entry point of the ``dailyfetch`` console script.

    When the command is done and no other non-daemon thread is alive, the process
    exits with ``os._exit`` after the ``atexit`` handlers have run and the standard
    streams are flushed: tearing the interpreter's modules down one by one would
    add about 0.1 s to every run and does nothing for a process that is ending.
    Otherwise (a library left a thread or an idle executor behind) it exits the
    normal way, which wakes and joins them. Exceptions propagate normally.
    """
    import atexit
    import contextlib
    import os
    import threading

    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    if others:
        raise SystemExit(code)
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError):  # a closed pipe (`| head`) or stream
            stream.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))
