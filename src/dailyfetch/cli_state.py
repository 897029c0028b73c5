"""``dailyfetch state show|set|reset``: inspect and change incremental high-water marks."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from dailyfetch.cli import ConfigOption, DatabaseOption, DebugOption, _guard, _load, app

state_app = typer.Typer(
    help="Inspect and change the high-water marks of an incremental job ([source.incremental]).",
    no_args_is_help=True,
)
app.add_typer(state_app, name="state")

PartitionOption = Annotated[
    list[str] | None,
    typer.Option("--partition", "-p", help="A partition key such as 'region=eu' (default: every partition)."),
]


def _open(config: Any, database_url: str | None) -> Any:
    from dailyfetch import ledger
    from dailyfetch.database import connect, resolve_database_url
    from dailyfetch.errors import ConfigError

    if config.source.incremental is None:
        raise ConfigError("source.incremental: this job has no incremental cursor, so it has no state")
    url, _ = resolve_database_url(database_url, config.database.url)
    conn = connect(url)
    ledger.ensure_ledger(conn)
    return conn


def _partitions(config: Any, chosen: list[str] | None) -> list[str]:
    from dailyfetch.errors import ConfigError
    from dailyfetch.plan import plan_run

    known = [p.key for p in plan_run(config).partitions]
    for key in chosen or []:
        if key not in known:
            raise ConfigError(f"--partition: '{key}' is not one of {', '.join(known)}")
    return list(chosen) if chosen else known


@state_app.command("show")
def show(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    database_url: DatabaseOption = None,
    debug: DebugOption = False,
) -> None:
    """Show each partition's high-water mark, and who or what set it.

    Example: dailyfetch state show -c dailyfetch.toml
    """

    def action() -> None:
        import orjson

        from dailyfetch.cursor_state import list_marks

        cfg = _load(config)
        conn = _open(cfg, database_url)
        try:
            rows = {r["partition"]: r for r in list_marks(conn, cfg.job.name)}
        finally:
            conn.close()
        inc = cfg.source.incremental
        out = []
        for key in _partitions(cfg, None):
            row = rows.get(key, {})
            out.append({
                "partition": key, "value": row.get("value"), "pending": row.get("pending"),
                "initial": inc.initial, "set_by": row.get("set_by"),
                "updated_at": row["updated_at"].isoformat() if row.get("updated_at") else None,
            })  # fmt: skip
        if as_json:
            sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
            return
        sys.stdout.write(
            f"job {cfg.job.name}: cursor field '{inc.cursor}', lookback {inc.lookback or 'none'}\n"
        )
        for r in out:
            value = r["value"] or f"(none: starts at initial {r['initial']})"
            by = f"  set by {r['set_by']} at {r['updated_at']}" if r["set_by"] else ""
            sys.stdout.write(f"  {r['partition']}: {value}{by}\n")

    _guard(debug, action)


@state_app.command("set")
def set_(
    value: Annotated[str, typer.Argument(help="The new high-water mark, e.g. 2026-03-01T00:00:00Z.")],
    config: ConfigOption = None,
    partition: PartitionOption = None,
    database_url: DatabaseOption = None,
    debug: DebugOption = False,
) -> None:
    """Set the high-water mark (to refetch everything since March, say); recorded in the ledger.

    Example: dailyfetch state set 2026-03-01T00:00:00Z
    """

    def action() -> None:
        from dailyfetch.cursor_state import operator, set_mark
        from dailyfetch.incremental import mark_text

        cfg = _load(config)
        keys = _partitions(cfg, partition)
        normal = mark_text(cfg.source.incremental, value)  # kept as written: sent back byte for byte
        conn = _open(cfg, database_url)
        try:
            set_mark(conn, cfg.job.name, keys, normal, operator() + " set")
        finally:
            conn.close()
        sys.stdout.write(f"set {len(keys)} partition(s) of {cfg.job.name} to {normal}\n")

    _guard(debug, action)


@state_app.command("reset")
def reset(
    config: ConfigOption = None,
    partition: PartitionOption = None,
    database_url: DatabaseOption = None,
    debug: DebugOption = False,
) -> None:
    """Forget the high-water mark: the next run starts again at [source.incremental].initial.

    Example: dailyfetch state reset --partition region=eu
    """

    def action() -> None:
        from dailyfetch.cursor_state import operator, set_mark

        cfg = _load(config)
        keys = _partitions(cfg, partition)
        conn = _open(cfg, database_url)
        try:
            set_mark(conn, cfg.job.name, keys, None, operator() + " reset")
        finally:
            conn.close()
        sys.stdout.write(f"reset {len(keys)} partition(s) of {cfg.job.name}; next run starts at initial\n")

    _guard(debug, action)
