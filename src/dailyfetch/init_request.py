"""``dailyfetch init``'s sample request: the URL, params and headers as sent and as written.

Secrets (auth-looking headers and parameters, a URL's password) become ``${ENV}``
references in what is written and are registered for redaction; dates of yesterday or
today become run variables. The job and table names come from the URL. The file itself
is written by :mod:`dailyfetch.init_write`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from dailyfetch.errors import ConfigError
from dailyfetch.init_infer import Guess
from dailyfetch.redact import SENSITIVE_NAME, mask_url, register_secret

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
