"""Find, read and validate ``dailyfetch.toml``.

The file is taken from ``-c/--config``, else ``$DAILYFETCH_CONFIG``, else
``./dailyfetch.toml``. ``${VAR}`` (or ``${VAR:-default}``) in any string is
replaced from the environment before validation; ``$${`` is a literal ``${``.
Values that come from the environment into headers, the database URL, or any
variable whose name looks secret are registered as secrets, so they are masked
everywhere dailyfetch writes text.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dailyfetch.config import Config
from dailyfetch.errors import ConfigError
from dailyfetch.redact import SENSITIVE_NAME, register_secret, register_url_secrets

DEFAULT_FILE = "dailyfetch.toml"
_ENV_REF = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Strings later formatted with run variables: env values in them get their braces escaped.
_TEMPLATE_PREFIXES = (("source", "url"), ("source", "params"), ("source", "headers"))
_SECRET_PREFIXES = (("source", "headers"), ("database", "url"), ("source", "auth"), ("notify", "urls"))
# The unset variables standing in as placeholders: each with its config path and its error.
_Unset = list[tuple[tuple[str, ...], ConfigError]]


def resolve_config_path(option: str | Path | None) -> Path:
    """The config file to read: the option, then ``$DAILYFETCH_CONFIG``, then ``./dailyfetch.toml``."""
    chosen = option or os.environ.get("DAILYFETCH_CONFIG") or DEFAULT_FILE
    return Path(chosen)


def load_config(option: str | Path | None = None, *, env_required: bool = True) -> Config:
    """Read, interpolate and validate the config file; raise :class:`ConfigError` on any problem.

    ``env_required=False`` is for commands that read only the job's name and schedule
    (``next``, ``tfvars``: a CI step that deploys has no API token): an unset ``${VAR}``
    stands in as a placeholder, and is an error only if the config is then invalid.
    """
    path = resolve_config_path(option)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found",
            hint="pass -c FILE, set DAILYFETCH_CONFIG, or run 'dailyfetch init URL'",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    return parse_config(text, source=str(path), env_required=env_required)


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    env: Mapping[str, str] | None = None,
    env_required: bool = True,
) -> Config:
    """Validate TOML ``text`` as a dailyfetch config (``env`` defaults to ``os.environ``)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    unset: _Unset | None = None if env_required else []
    try:
        interpolated = _interpolate(raw, (), os.environ if env is None else env, unset)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.message}", hint=exc.hint) from None
    try:
        return Config.model_validate(interpolated)
    except ValidationError as exc:
        failed = {_path_of(err) for err in exc.errors(include_url=False)}
        for path, error in unset or ():  # a placeholder where a value was needed: name its variable
            if any(loc[: len(path)] == path or path[: len(loc)] == loc for loc in failed):
                raise ConfigError(f"{source}: {error.message}", hint=error.hint) from None
        raise ConfigError(format_validation_error(exc, source)) from None


def _interpolate(value: Any, path: tuple[str, ...], env: Mapping[str, str], unset: _Unset | None) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, str(k)), env, unset) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, str(i)), env, unset) for i, v in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        return _substitute(value, path, env, unset)
    return value


def _substitute(text: str, path: tuple[str, ...], env: Mapping[str, str], unset: _Unset | None = None) -> str:
    """``text`` with ``${VAR}`` references replaced; an unset one is an error, or with ``unset``
    given, a placeholder ``<unset VAR>`` and the error appended there."""
    in_template = any(path[: len(p)] == p for p in _TEMPLATE_PREFIXES)
    secret_position = any(path[: len(p)] == p for p in _SECRET_PREFIXES)
    sensitive_key = bool(path) and bool(SENSITIVE_NAME.search(path[-1]))

    def replace(match: re.Match[str]) -> str:
        escaped, name, default = match.group(1), match.group(2), match.group(3)
        if escaped:
            literal = match.group(0)[1:]
            return literal.replace("{", "{{").replace("}", "}}") if in_template else literal
        value = env.get(name)
        if value is None:
            if default is None:
                error = ConfigError(
                    f"{'.'.join(path)}: environment variable {name} is not set",
                    hint=f"export {name}=... or use ${{{name}:-default}}",
                )
                if unset is None:
                    raise error
                unset.append((path, error))
                return f"<unset {name}>"
            value = default
        if secret_position or sensitive_key or SENSITIVE_NAME.search(name):
            register_secret(value)
            register_url_secrets(value)
        if in_template:
            value = value.replace("{", "{{").replace("}", "}}")
        return value

    result = _ENV_REF.sub(replace, text)
    if secret_position and path[:2] == ("source", "headers"):
        register_secret(result)
    return result


SHOWN_PROBLEMS = 3


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line naming each problem's dotted path (the first three), plus a count of the others."""
    lines = list(dict.fromkeys(_format_one(err) for err in exc.errors(include_url=False)))
    shown = "; ".join(lines[:SHOWN_PROBLEMS])
    rest = len(lines) - SHOWN_PROBLEMS
    more = f" (and {rest} more problem{'s' if rest > 1 else ''})" if rest > 0 else ""
    return f"{source}: {shown}{more}"


_UNION_TAGS = frozenset({"page_number", "offset", "cursor", "next_url", "link_header", "none"})


def _path_of(err: Any) -> tuple[str, ...]:
    """An error's location as a config path (the tag pydantic inserts for tagged unions dropped)."""
    loc = tuple(str(p) for p in err["loc"])
    if len(loc) >= 3 and loc[:2] == ("source", "pagination") and loc[2] in _UNION_TAGS:
        return loc[:2] + loc[3:]
    return loc


def _format_one(err: Any) -> str:
    loc = list(_path_of(err))
    kind = err["type"]
    msg: str = err["msg"]
    if kind == "extra_forbidden":
        return f"{'.'.join(loc)}: unknown key"
    if kind == "missing":
        return f"{'.'.join(loc)}: required key is missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = err.get("ctx", {}).get("expected_tags", "")
        got = err.get("ctx", {}).get("tag")
        got_text = f" (got '{got}')" if got is not None else ""
        return f"{'.'.join([*loc, 'kind'])}: must be one of {expected}{got_text}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{'.'.join(loc)}: must be one of {expected} (got {err.get('input')!r})"
    if kind == "value_error" and loc[-2:] in (["job", "timeout"], ["job", "stop_grace"]):
        return f"{'.'.join(loc)}: {msg.removeprefix('Value error, ')}"
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        # Model-level validators prefix the field themselves: "url: required ..."
        head, sep, rest = msg.partition(": ")
        nests = len(loc) <= 1 or loc[-1] in ("columns", "partitions", "auth", "pagination")
        if sep and nests and re.fullmatch(r"[\w.\-]+", head):
            return f"{'.'.join([*loc, head])}: {rest}"
        return f"{'.'.join(loc)}: {msg}"
    text = msg[0].lower() + msg[1:] if msg else kind
    text = text.replace("input should be", "must be")
    return f"{'.'.join(loc)}: {text}"
