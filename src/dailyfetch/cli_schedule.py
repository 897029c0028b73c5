"""Scheduling commands: ``next``, ``schedule`` and ``backfill`` (registered on :data:`dailyfetch.cli.app`).

Each parses its options, calls one library function and prints; the work lives in
:mod:`dailyfetch.fire_times`, :mod:`dailyfetch.scheduler` and :mod:`dailyfetch.backfill`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from dailyfetch.cli import ConfigOption, DatabaseOption, DebugOption, _guard, _load, _setup, app

__all__ = ["app"]


@app.command("next")
def next_fires(
    config: ConfigOption = None,
    expression: Annotated[
        str | None,
        typer.Option("--expression", "-e", help="A schedule expression to try instead of the config's."),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", "--tz", help="IANA time zone (default: the config's, or UTC with -e)."),
    ] = None,
    after: Annotated[
        str | None,
        typer.Option("--after", help="ISO 8601 start time; without an offset it is in the schedule's zone."),
    ] = None,
    count: Annotated[int, typer.Option("-n", "--count", min=1, max=1000, help="How many fire times.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array of ISO 8601 times.")] = False,
    debug: DebugOption = False,
) -> None:
    """Print the next fire times of the schedule (and, from a config, the date each run fetches).

    Example: dailyfetch next -e "cron(30 2 ? * MON-FRI *)" --timezone Europe/Berlin -n 3
    """

    def action() -> None:
        from dailyfetch.fire_times import FireCalendar, format_fires, parse_instant

        if expression is not None:
            calendar, rule_known = FireCalendar.parse(expression, timezone or "UTC"), False
        else:
            cfg = _load(config, env_required=False)  # the schedule only: no secrets needed
            zone = timezone or cfg.schedule.timezone
            calendar = FireCalendar.parse(
                cfg.schedule.expression, zone, cfg.job.logical_date, cfg.job.run_window
            )
            rule_known = True
        start = parse_instant(after, calendar.tz) if after else None
        sys.stdout.write(format_fires(calendar, start, count, as_json=as_json, with_dates=rule_known))

    _guard(debug, action)


@app.command()
def schedule(
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
    health: Annotated[
        bool,
        typer.Option("--health", help="Exit 0 if a running scheduler looped in the last 120 s, else 1."),
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Run the job at its scheduled times, in the foreground, until SIGTERM or Ctrl-C.

    Each fire time runs its logical date in a child `dailyfetch run`, one at a time.
    On start and after the machine wakes, missed dates are caught up as
    [schedule].catch_up says. The health file is $DAILYFETCH_HEALTH_FILE.

    Example: dailyfetch schedule -c dailyfetch.toml
    """
    if health:
        from dailyfetch.schedule_health import check_health

        ok, message = check_health()
        (sys.stdout if ok else sys.stderr).write(message + "\n")
        raise typer.Exit(0 if ok else 1)
    _setup(debug)

    def action() -> None:
        from dailyfetch.config_file import resolve_config_path
        from dailyfetch.scheduler import run_scheduler

        run_scheduler(_load(config), resolve_config_path(config), database_url=database_url)

    _guard(debug, action)


@app.command()
def backfill(
    start: Annotated[
        str, typer.Option("--start", help="First logical date, YYYY-MM-DD (hour windows: or YYYY-MM-DDTHH).")
    ],
    end: Annotated[
        str,
        typer.Option(
            "--end", help="Last logical date, YYYY-MM-DD, inclusive (hour windows: or YYYY-MM-DDTHH)."
        ),
    ],
    config: ConfigOption = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, max=32, help="How many dates run at once.")
    ] = 1,
    force: Annotated[bool, typer.Option("--force", help="Run dates that already succeeded again.")] = False,
    database_url: DatabaseOption = None,
    debug: DebugOption = False,
) -> None:
    """Run every logical date from --start to --end, each in its own `dailyfetch run` process.

    With an hour [job].window, every window in the range runs (a bare --end date
    includes that whole day). Dates that already succeeded are skipped unless --force. Prints one line per date
    (date, outcome, rows, seconds, error) and exits 1 if any date failed.

    Example: dailyfetch backfill --start 2026-11-01 --end 2026-11-07 --workers 3
    """
    _setup(debug)

    def action() -> int:
        from dailyfetch.backfill import format_table, run_backfill
        from dailyfetch.config_file import resolve_config_path
        from dailyfetch.plan import check_not_ahead

        cfg = _load(config)
        window = cfg.job.run_window
        first = window.key(window.parse_option(start, "--start"))
        last = window.key(window.parse_option(end, "--end", end=True))
        check_not_ahead(cfg, last, option="--end")
        results = run_backfill(
            cfg, resolve_config_path(config), first, last,
            workers=workers, force=force, database_url=database_url,
        )  # fmt: skip
        sys.stdout.write(format_table(results))
        return 1 if any(r.outcome == "failed" for r in results) else 0

    raise typer.Exit(_guard(debug, action))
