"""What ``dailyfetch runs`` and ``dailyfetch check`` print."""

from __future__ import annotations

import sys
from typing import Any

import orjson

from dailyfetch.config import Config
from dailyfetch.redact import MASK, SENSITIVE_NAME, redact

_RUN_FIELDS = (
    "job", "logical_date", "logical_time", "status", "rows", "started_at", "finished_at", "duration_seconds",
    "attempts", "partitions", "partitions_done", "generation", "error_class", "error",
)  # fmt: skip


def print_runs(config: Config, *, limit: int, as_json: bool, database_url: str | None) -> None:
    """Print the newest runs: a JSON array, a rich table on a TTY, else plain lines."""
    from dailyfetch import ledger
    from dailyfetch.database import connect, resolve_database_url

    url, _ = resolve_database_url(database_url, config.database.url)
    conn = connect(url)
    try:
        ledger.ensure_ledger(conn)
        rows = [{k: r.get(k) for k in _RUN_FIELDS} for r in ledger.list_runs(conn, config.job.name, limit)]
    finally:
        conn.close()
    for row in rows:
        if row["error"]:
            row["error"] = redact(row["error"])
    if as_json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if not rows:
        sys.stdout.write(f"no runs of job '{config.job.name}' yet; start one with 'dailyfetch run'\n")
        return
    hourly = config.job.run_window.sub_day
    for r in rows:
        r["window"] = str(r["logical_time"])[:16] if hourly else str(r["logical_date"])
    if sys.stdout.isatty():
        _rich_runs(rows)
        return
    for r in rows:
        duration = f"{r['duration_seconds']:.1f}s" if r["duration_seconds"] is not None else "-"
        generation = int(r["generation"] or 1)
        refetch = f"  --force #{generation - 1}" if generation > 1 else ""
        error = f"  {r['error']}" if r["error"] else ""
        line = f"{r['window']}  {r['status']:<11} {r['rows']:>10} rows  {duration:>8}{refetch}{error}"
        sys.stdout.write(line + "\n")


def _rich_runs(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    colours = {"succeeded": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}
    table = Table(title="dailyfetch runs")
    for name in ("date", "status", "rows", "duration", "attempts", "generation", "error"):
        table.add_column(name, justify="left" if name in ("date", "status", "error") else "right")
    for r in rows:
        duration = f"{r['duration_seconds']:.1f}s" if r["duration_seconds"] is not None else "-"
        colour = colours.get(r["status"], "white")
        table.add_row(
            r["window"], f"[{colour}]{r['status']}[/]", f"{r['rows']:,}", duration,
            str(r["attempts"]), str(r["generation"] or 1), r["error"] or "",
        )  # fmt: skip
    Console().print(table)


def print_check(config: Config, *, database_url: str | None) -> None:
    """Validate, connect, and describe the run that would happen, without fetching."""
    from dailyfetch.database import EMBEDDED, connect, describe, resolve_database_url
    from dailyfetch.fetch import pagination
    from dailyfetch.fetch.http import describe_request
    from dailyfetch.fetch.rest import render_request
    from dailyfetch.load.writer import read_columns
    from dailyfetch.plan import plan_run

    plan = plan_run(config)
    url, origin = resolve_database_url(database_url, config.database.url)
    conn = connect(url)
    dest = config.destination
    try:
        version = conn.info.server_version
        columns = read_columns(conn, dest.schema_, dest.table)
        ledger_exists = conn.execute(
            "SELECT to_regclass('dailyfetch.runs') IS NOT NULL, EXISTS (SELECT FROM information_schema.columns "
            "WHERE table_schema = 'dailyfetch' AND table_name = 'runs' AND column_name = 'logical_time')"
        ).fetchone()
        state = None
        if ledger_exists and ledger_exists[0]:
            # A version 3 ledger (not yet upgraded by a run) knows daily runs only.
            by_time = "SELECT status FROM dailyfetch.runs WHERE job = %s AND logical_time = %s "
            by_date = "SELECT status FROM dailyfetch.runs WHERE job = %s AND logical_date = %s "
            found = conn.execute(
                (by_time if ledger_exists[1] else by_date) + "ORDER BY generation DESC LIMIT 1",
                (plan.job, plan.start_wall if ledger_exists[1] else plan.logical_date),
            ).fetchone()
            state = found[0] if found else None
        since = None
        if config.source.incremental is not None:
            from dailyfetch.incremental import since_for

            has_cursors = conn.execute("SELECT to_regclass('dailyfetch.cursors') IS NOT NULL").fetchone()
            mark = None
            if has_cursors and has_cursors[0]:
                from dailyfetch.cursor_state import read_mark

                mark = read_mark(conn, plan.job, plan.partitions[0].key)
            since = since_for(config.source.incremental, mark)
    finally:
        conn.close()
    out = sys.stdout.write
    out("config: ok\n")
    where = describe(EMBEDDED) if origin == EMBEDDED else describe(url)
    out(f"database: {where} (PostgreSQL {version // 10000}.{version % 10000}, from {origin})\n")
    table = f"{dest.schema_}.{dest.table}"
    exists = f"exists, {len(columns)} columns" if columns else "will be created"
    out(f"destination: {table} ({exists}), write = {dest.write_mode}")
    out(f", primary key ({', '.join(dest.primary_key)})\n" if dest.primary_key else "\n")
    out(
        f"job: {plan.job}, logical {'time' if plan.window.sub_day else 'date'} {plan.label} "
        f"(window {plan.window.text}, {config.job.logical_date} in {config.schedule.timezone})\n"
    )
    if state == "succeeded":
        out("ledger: this window already succeeded; 'dailyfetch run' would do nothing (use --force)\n")
    elif state:
        out(f"ledger: the last attempt for this window is '{state}'; 'dailyfetch run' would resume it\n")
    else:
        out("ledger: no run for this window yet\n")
    out(f"partitions: {len(plan.partitions)} ({', '.join(p.key for p in plan.partitions[:5])}"
        f"{', ...' if len(plan.partitions) > 5 else ''})\n")  # fmt: skip
    source = config.source
    if source.kind == "python":
        out(f"source: python function {source.function}\n")
        return
    variables = plan.variables(plan.partitions[0])
    first_url, params, headers = render_request(source, {**variables, "since": since or ""})
    if source.incremental is not None:
        out(f"incremental: since {since} (cursor '{source.incremental.cursor}')\n")
        if source.incremental.param:
            params[source.incremental.param] = since
    request = pagination.page_request(
        source.pagination, pagination.first_state(source.pagination), first_url, params
    )
    out(f"first request: {source.method} {describe_request(request.url, request.params)}\n")
    for name, value in headers.items():
        shown = MASK if SENSITIVE_NAME.search(name) else redact(value)
        out(f"  {name}: {shown}\n")
    out(f"pagination: {source.pagination.kind}; records at {source.records or '(the body)'}\n")
    out("nothing was sent.\n")


def print_peek(config: Config, *, limit: int, database_url: str | None) -> None:
    """Print how many rows the destination holds and the first ``limit`` of them."""
    from psycopg import sql
    from psycopg.rows import dict_row

    from dailyfetch.database import connect, resolve_database_url
    from dailyfetch.load.writer import read_columns

    dest = config.destination
    url, _ = resolve_database_url(database_url, config.database.url)
    conn = connect(url)
    try:
        if read_columns(conn, dest.schema_, dest.table) is None:
            sys.stdout.write(f"{dest.schema_}.{dest.table} does not exist yet; run 'dailyfetch run' first\n")
            return
        table = sql.Identifier(dest.schema_, dest.table)
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql.SQL("SELECT * FROM {} LIMIT %s").format(table), (limit,))
            rows = cur.fetchall()
    finally:
        conn.close()
    total = count[0] if count else 0
    sys.stdout.write(f"{dest.schema_}.{dest.table}: {total:,} rows; the first {len(rows)}:\n")
    for row in rows:
        sys.stdout.write(orjson.dumps(row, default=str).decode()[:300] + "\n")
