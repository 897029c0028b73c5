"""``dailyfetch init``: fetch one sample page and write a commented ``dailyfetch.toml`` for it.

The request goes through dailyfetch's own client and error mapping. Before
anything is written, secrets become ``${ENV}`` references and dates of yesterday or
today become run variables (:mod:`dailyfetch.init_request`). The guesses themselves
are :mod:`dailyfetch.init_infer` and :mod:`dailyfetch.init_fields`. Nothing runs on its
own: the user reviews the file, then ``dailyfetch run``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dailyfetch.errors import ConfigError, SourceError
from dailyfetch.fetch.links import link_targets
from dailyfetch.fetch.origin import OriginPolicy, origin_of
from dailyfetch.init_fields import ColumnGuess, IncrementalGuess
from dailyfetch.init_infer import Guess, PaginationGuess, Setting
from dailyfetch.init_request import Request, name_job, parse_pairs, prepare_request
from dailyfetch.redact import SENSITIVE_NAME, mask_url

if TYPE_CHECKING:
    import httpx


_CREDENTIALS = frozenset({"authorization", "proxy-authorization", "cookie"})


@dataclass(frozen=True)
class InitResult:
    """The written file, the guesses printed, and the secrets' values (for the check only)."""

    path: Path
    text: str
    guesses: list[str]
    env_names: list[str]
    secret_env: dict[str, str]


def toml_value(value: Any) -> str:
    """A TOML literal for a string, integer, boolean or list of strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_key(key: str) -> str:
    """A bare TOML key when possible, else a quoted one."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)


def _inline(settings: dict[str, Setting]) -> str:
    return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in settings.items()) + " }"


def _comment(text: str) -> str:
    return "# " + "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)


@dataclass(frozen=True)
class Sample:
    """Everything inferred from the sample page, ready to render."""

    records_path: str | None
    pagination: PaginationGuess
    primary_key: str | None
    columns: list[ColumnGuess]
    incremental: IncrementalGuess | None
    guesses: list[Guess]


def render_config(req: Request, sample: Sample, *, shown_url: str) -> str:
    """The commented ``dailyfetch.toml`` text."""
    job, table = name_job(req.url, sample.records_path)
    lines = [
        f"# dailyfetch.toml for {shown_url}",
        f"# written by `dailyfetch init` from one sample page on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "# Every value below is a guess: review it, then `dailyfetch check` and `dailyfetch run`.",
        "#",
        *[_comment(f"  {g}") for g in sample.guesses],
    ]
    if req.env_names:
        lines += ["#", _comment(f"Set before running: {', '.join(f'export {n}=...' for n in req.env_names)}")]
    lines += [
        "", "[job]", "# The job's name in the run ledger: keep it stable once runs exist.",
        f"name = {toml_value(job)}",
        "# What a run without --date fetches: the logical day in [schedule].timezone.",
        f"logical_date = {toml_value(req.logical_date)}",
        "", "[schedule]", "# Daily at 02:30 (EventBridge Scheduler cron, 6 fields) in this IANA zone.",
        'expression = "cron(30 2 * * ? *)"', 'timezone = "UTC"',
        "", "[source]", 'kind = "rest"', f"url = {toml_value(req.url)}",
    ]  # fmt: skip
    where = f"records = {toml_value(sample.records_path)}" if sample.records_path else "# records: the body"
    lines += ["# Where the list of records is in the JSON body (a dotted path).", where]
    lines += [_comment(sample.pagination.guess.text), f"pagination = {_inline(sample.pagination.settings)}"]
    params = {k: v for k, v in req.params.items() if k not in sample.pagination.drop_params}
    for section, values in (("params", params), ("headers", req.headers)):
        if values:
            lines += [
                "",
                f"[source.{section}]",
                *(f"{toml_key(k)} = {toml_value(v)}" for k, v in values.items()),
            ]
    lines += _incremental_block(sample.incremental)
    lines += _destination_block(table, sample)
    return "\n".join(lines) + "\n"


def _incremental_block(inc: IncrementalGuess | None) -> list[str]:
    if inc is None:
        return []
    return [
        "",
        "# Incremental mode: fetch only what changed since the last run (check the API's parameter name).",
        "# [source.incremental]",
        f"# cursor = {toml_value(inc.cursor)}",
        f"# param = {toml_value(inc.param)}",
        f"# initial = {toml_value(inc.initial)}",
        f"# lookback = {toml_value(inc.lookback)}",
    ]


def _destination_block(table: str, sample: Sample) -> list[str]:
    lines = ["", "[destination]", f"table = {toml_value(table)}"]
    if sample.primary_key:
        lines += [
            "# Rows are merged (upserted) on the key, so a re-run or an overlap never duplicates.",
            f"primary_key = [{toml_value(sample.primary_key)}]",
        ]
    else:
        lines.append("# No key found: rows are appended (exactly once per date). Set primary_key to merge.")
    if sample.columns:
        width = max(len(c.name) for c in sample.columns)
        lines.append("# One column per top-level field (types inferred on the first run):")
        for c in sample.columns:
            kind = c.declared or c.inferred or "(no type yet)"
            note = "  (declared below)" if c.declared else f"  {c.note}" if c.note else ""
            lines.append(_comment(f"  {c.name.ljust(width)}  {kind}{note}"))
    declared = [c for c in sample.columns if c.declared]
    if declared:
        lines += ["", "[destination.columns]"]
        lines += [f"{toml_key(c.name)} = {toml_value(c.declared)}  # {c.note}" for c in declared]
    return lines


def write_config_from_sample(
    url: str,
    *,
    params: list[str],
    headers: list[str],
    output: Path,
    force: bool = False,
    today: date | None = None,
    client: httpx.Client | None = None,
) -> InitResult:
    """Fetch one page of ``url``, infer a config from it and write it to ``output``."""
    from dailyfetch import init_fields, init_infer
    from dailyfetch.config_file import parse_config
    from dailyfetch.fetch.http import RetryPolicy, build_client, parse_json, send

    if output.exists() and not force:
        raise ConfigError(
            f"{output}: already exists", hint="pass --force to overwrite it, or -o another file"
        )
    req = prepare_request(url, parse_pairs(params, "--param"), parse_pairs(headers, "--header"), today=today)
    own = client is None
    client = client or build_client(connect_timeout=10, read_timeout=60, origins=sample_origin(req))
    try:
        response = send(client, "GET", req.sent_url, params=req.sent_params, headers=req.sent_headers,
                        policy=RetryPolicy(attempts=3, timeout=30))  # fmt: skip
        body = parse_json(response)
    finally:
        if own:
            client.close()
    shown = mask_url(str(response.request.url))
    found = init_infer.find_records(body)
    if found is None:
        raise SourceError(
            f"{shown} answered {type(body).__name__}, not JSON objects", hint="point init at a JSON API"
        )
    targets = link_targets(response, "next")  # RFC 8288, as the run reads them (fetch/links.py)
    link_next = targets[0] if targets else None
    paging = init_infer.infer_pagination(body, found, req.sent_params, link_next=link_next)
    resource = name_job(req.url, found.path)[1]
    key, key_guess = init_fields.infer_primary_key(found.records, resource)
    columns = init_fields.infer_columns(found.records)
    incremental = init_fields.infer_incremental(found.records)
    guesses = [found.guess, paging.guess, key_guess]
    declared = ", ".join(f"{c.name} {c.declared} ({c.note})" for c in columns if c.declared)
    noted = "".join(f"; {c.name}: {c.note}" for c in columns if c.note and not c.declared)
    guesses.append(
        Guess("columns", f"{len(columns)} fields" + (f"; declared {declared}" if declared else "") + noted)
    )
    guesses += [incremental.guess] if incremental else []
    guesses += req.guesses + ([Guess("warning", paging.warning)] if paging.warning else [])
    sample = Sample(found.path, paging, key, columns, incremental, guesses)
    text = render_config(req, sample, shown_url=shown)
    parse_config(text, source=str(output), env={**os.environ, **req.secret_env})  # a bug if it fails
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w" if force else "x", encoding="utf-8") as handle:
        handle.write(text)
    return InitResult(output, text, [str(g) for g in guesses], req.env_names, req.secret_env)


def sample_origin(req: Request) -> OriginPolicy:
    """The origin rule a run keeps (:mod:`dailyfetch.fetch.origin`), for init's sample request.

    A redirect to another origin is refused, naming its URL and ``[source] allowed_hosts``:
    init is given no allowed hosts, and every ``-H`` header counts as a credential.
    """
    import httpx

    params = frozenset(k for k in req.sent_params if SENSITIVE_NAME.search(k))
    return OriginPolicy(
        origins=frozenset({origin_of(httpx.URL(req.sent_url))}),
        secret_headers=_CREDENTIALS | {name.lower() for name in req.sent_headers},
        secret_params=params,
    )


def check_written(result: InitResult, *, database_url: str | None) -> None:
    """``dailyfetch check`` on the written file, with the secrets init was given standing in for the env."""
    from dailyfetch.config_file import parse_config
    from dailyfetch.show import print_check

    config = parse_config(result.text, source=str(result.path), env={**os.environ, **result.secret_env})
    print_check(config, database_url=database_url)
