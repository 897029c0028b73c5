"""``dailyfetch init``: fetch one sample page and write a commented ``dailyfetch.toml`` for it.

The request goes through dailyfetch's own client and error mapping. Before
anything is written, secrets (auth-looking headers and parameters) become
``${ENV}`` references and dates of yesterday or today become run variables.
The guesses themselves are :mod:`dailyfetch.init_infer`. Nothing runs on its
own: the user reviews the file, then ``dailyfetch run``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from dailyfetch.errors import ConfigError, SourceError
from dailyfetch.init_fields import ColumnGuess, IncrementalGuess
from dailyfetch.init_infer import Guess, PaginationGuess, Setting
from dailyfetch.redact import SENSITIVE_NAME, mask_url, register_secret

if TYPE_CHECKING:
    import httpx

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
_SCHEME = re.compile(r"^(Bearer|Basic|Token|token|Bot|Digest)\s+(\S.*)$")
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_DATE_IN_TEXT = re.compile(
    r"(?<!\d)(?P<day>\d{4}-\d{2}-\d{2})"
    r"(?:(?P<sep>[T ])(?P<hh>\d{2}):(?P<mm>\d{2})(?::(?P<ss>\d{2})(?P<frac>\.\d+)?)?(?P<zone>Z|[+-]00:?00)?)?"
    r"(?![\d:+\-])"
)
_NOT_A_NAME = r"v?\d+(\.\d+)?|[\d\-t:]+|[0-9a-f\-]{8,}|.*[{}%$].*"
_GENERIC_LABELS = frozenset(
    {"api", "www", "rest", "app", "apps", "gateway", "com", "org", "net", "co", "gov"}
)
_GENERIC_SEGMENTS = frozenset(
    {"api", "query", "search", "list", "all", "index", "json", "data", "items", "results", "records", "rest"}
)


@dataclass
class Request:
    """The sample request: what is sent (``sent_*``) and what is written to the file (``params`` ...)."""

    url: str
    sent_url: str
    params: dict[str, str] = field(default_factory=dict)
    sent_params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    sent_headers: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, str] = field(default_factory=dict)
    env_names: list[str] = field(default_factory=list)
    logical_date: str = "yesterday"
    guesses: list[Guess] = field(default_factory=list)


@dataclass(frozen=True)
class InitResult:
    """The written file, the guesses printed, and the secrets' values (for the check only)."""

    path: Path
    text: str
    guesses: list[str]
    env_names: list[str]
    secret_env: dict[str, str]


def parse_pairs(items: list[str], option: str) -> list[tuple[str, str]]:
    """``k=v`` (or ``Name: value``) pairs of a repeated option; a malformed one is a usage error."""
    pairs: list[tuple[str, str]] = []
    for number, item in enumerate(items, start=1):
        cut = min((i for i in (item.find("="), item.find(":")) if i > 0), default=-1)
        if cut <= 0 or not item[:cut].strip():
            example = "per_page=100" if option == "--param" else "'Accept: application/json'"
            # The item is not echoed: it may hold a secret.
            raise ConfigError(
                f"{option} #{number}: expected NAME=VALUE or 'Name: value'", hint=f"e.g. {option} {example}"
            )
        pairs.append((item[:cut].strip(), item[cut + 1 :].strip()))
    return pairs


def prepare_request(
    url: str, params: list[tuple[str, str]], headers: list[tuple[str, str]], *, today: date | None = None
) -> Request:
    """Split the URL's query into params, move secrets to ``${ENV}`` and dates to run variables."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"URL: '{mask_url(url)[:80]}' is not an http(s) URL", hint="e.g. https://api.test/items"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    unique = len({k for k, _ in query}) == len(query)
    if not unique and any(SENSITIVE_NAME.search(k) for k, _ in query):
        raise ConfigError(
            "URL: its query repeats keys and holds a secret", hint="pass the secret with --param"
        )
    kept = "" if unique else parts.query
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, kept, ""))
    prefix = _api_prefix(parts.hostname)
    req = Request(url=escape_braces(base), sent_url=_expand(base, "URL"))
    if parts.password:
        name = _claim_env(req, f"{prefix}_PASSWORD", _expand(parts.password, "URL"), "the URL's password")
        netloc = f"{parts.username or ''}:${{{name}}}@{parts.netloc.rpartition('@')[2]}"
        req.url = escape_braces(urlunsplit((parts.scheme, netloc, parts.path, kept, "")))
    for key, value in [*(query if unique else []), *params]:
        req.sent_params[key] = sent = _expand(value, f"--param {key}")
        req.params[key] = escape_braces(value)
        if SENSITIVE_NAME.search(key) and sent:
            register_secret(sent)
            if not _ENV_REF.search(value):
                req.params[key] = f"${{{_claim_env(req, _env_name(prefix, key), sent, f'parameter {key}')}}}"
    for key, value in headers:
        req.sent_headers[key] = sent = _expand(value, f"--header {key}")
        req.headers[key] = escape_braces(value)
        scheme = _SCHEME.match(sent)
        if sent and (SENSITIVE_NAME.search(key) or key.lower() in _SECRET_HEADERS or scheme):
            register_secret(sent)
            if not _ENV_REF.search(value):
                what = ("BASIC_AUTH" if scheme[1] == "Basic" else "TOKEN") if scheme else key
                secret = scheme[2] if scheme else sent
                name = _claim_env(req, _env_name(prefix, what), secret, f"header {key}")
                req.headers[key] = f"{scheme[1]} ${{{name}}}" if scheme else f"${{{name}}}"
    req.env_names += [m[1] for _, v in (*query, *params, *headers) for m in _ENV_REF.finditer(v)]
    req.env_names = list(dict.fromkeys(req.env_names))
    todays = {today} if today else {datetime.now(UTC).date(), datetime.now().date()}
    _template_dates(req, todays)
    return req


def escape_braces(text: str) -> str:
    """``text`` with literal braces doubled for run-variable templates; ``${VAR}`` references are kept."""
    out, last = [], 0
    for match in _ENV_REF.finditer(text):
        out += [text[last : match.start()].replace("{", "{{").replace("}", "}}"), match.group(0)]
        last = match.end()
    return "".join([*out, text[last:].replace("{", "{{").replace("}", "}}")])


def _expand(text: str, where: str) -> str:
    def value(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1))
        if found is None:
            raise ConfigError(f"{where}: environment variable {match.group(1)} is not set")
        return found

    return _ENV_REF.sub(value, text)


def _api_prefix(host: str) -> str:
    labels = host.lower().split(".")
    if host.replace(".", "").isdigit() or ":" in host or len(labels) < 2:
        return "API"
    named = [label for label in labels[:-1] if label not in _GENERIC_LABELS]
    prefix = re.sub(r"[^A-Z0-9]+", "_", named[-1].upper()) if named else "API"
    return prefix if prefix[:1].isalpha() else "API"


def _env_name(prefix: str, what: str) -> str:
    core = re.sub(r"[^A-Z0-9]+", "_", what.upper()).strip("_").removeprefix("X_")
    return core if core == prefix or core.startswith(f"{prefix}_") else f"{prefix}_{core}"


def _claim_env(req: Request, name: str, value: str, what: str) -> str:
    chosen, n = name, 1
    while chosen in req.secret_env and req.secret_env[chosen] != value:
        n += 1
        chosen = f"{name}_{n}"
    register_secret(value)
    req.secret_env[chosen] = value
    req.env_names.append(chosen)
    req.guesses.append(Guess("secret", f"{what} is written as ${{{chosen}}}, never literally"))
    return chosen


def _template_dates(req: Request, todays: set[date]) -> None:
    """Replace dates of yesterday or today (UTC or local) in the URL path and params by run variables."""
    yesterdays = {day - timedelta(days=1) for day in todays}
    recent = todays | yesterdays
    secret = {k for k, v in req.params.items() if _ENV_REF.search(v)}
    texts = {"url": req.url, **{f"params.{k}": v for k, v in req.params.items() if k not in secret}}
    found = sorted(d for t in texts.values() for m in _DATE_IN_TEXT.finditer(t) if (d := _day(m)) in recent)
    if not found:
        return
    first = found[0]
    req.logical_date = "yesterday" if first in yesterdays else "today"

    def replace(match: re.Match[str], where: str) -> str:
        day, clock = _day(match), (match["hh"] or "00", match["mm"] or "00", match["ss"] or "00")
        midnight = clock == ("00", "00", "00") and not (match["frac"] or "").strip(".0")
        if day not in (first, first + timedelta(days=1)) or not midnight:
            return match.group(0)
        end = day != first
        if match["hh"] is None:
            new = "{end:%Y-%m-%d}" if end else "{date}"
        else:
            spec = f"%Y-%m-%d{match['sep']}%H:%M" + (":%S" if match["ss"] else "") + (match["frac"] or "")
            new = f"{{{'end' if end else 'start'}_utc:{spec}{match['zone'] or ''}}}"
        what = "the day after the logical date" if end else f"the logical date, {req.logical_date}"
        req.guesses.append(Guess("date", f"{where}: {match.group(0)} -> {new} ({what})"))
        return new

    req.url = _DATE_IN_TEXT.sub(partial(replace, where="url"), req.url)
    for key in [k for k in req.params if k not in secret]:
        req.params[key] = _DATE_IN_TEXT.sub(partial(replace, where=f"params.{key}"), req.params[key])


def _day(match: re.Match[str]) -> date | None:
    try:
        return date.fromisoformat(match["day"])
    except ValueError:
        return None


def name_job(url: str, records_path: str | None) -> tuple[str, str]:
    """A job name and a table name from the URL's last meaningful path segment."""
    parts = urlsplit(url)
    segments = [*(records_path or "").split(".")[-1:], *[s for s in parts.path.split("/") if s]]
    for segment in reversed(segments):
        word = re.sub(r"\.(json|xml|csv)$", "", segment.lower())
        if not word or word in _GENERIC_SEGMENTS or re.fullmatch(_NOT_A_NAME, word):
            continue
        table = re.sub(r"[^a-z0-9_]+", "_", word).strip("_")[:63] or "records"
        break
    else:
        table = "records"
    prefix = _api_prefix(parts.hostname or "")
    job = table if prefix == "API" else f"{prefix.lower()}-{table}"
    return job.replace("_", "-")[:100], table


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
    client = client or build_client(connect_timeout=10, read_timeout=60)
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
    link_next = response.links.get("next", {}).get("url")
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


def check_written(result: InitResult, *, database_url: str | None) -> None:
    """``dailyfetch check`` on the written file, with the secrets init was given standing in for the env."""
    from dailyfetch.config_file import parse_config
    from dailyfetch.show import print_check

    config = parse_config(result.text, source=str(result.path), env={**os.environ, **result.secret_env})
    print_check(config, database_url=database_url)
