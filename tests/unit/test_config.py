"""Unit tests for dailyfetch.toml: validation, defaults, one-line errors, ${VAR}, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from dailyfetch.config import Config
from dailyfetch.config_file import load_config, parse_config, resolve_config_path
from dailyfetch.errors import ConfigError
from dailyfetch.fetch.rest import render_request
from dailyfetch.plan import plan_run
from dailyfetch.redact import REGISTRY, redact

FULL = """
[job]
name = "earthquakes"
logical_date = "yesterday"
[schedule]
expression = "cron(30 2 * * ? *)"
timezone = "Asia/Tokyo"
[database]
url = "${DATABASE_URL}"
[source]
kind = "rest"
url = "${API_BASE}/fdsnws/event/1/query"
records = "features"
[source.params]
format = "geojson"
starttime = "{start_utc:%Y-%m-%dT%H:%M:%S}"
endtime = "{end_utc:%Y-%m-%dT%H:%M:%S}"
region = "{region}"
limit = 500
verbose = true
[source.headers]
Authorization = "Bearer ${API_TOKEN}"
[source.pagination]
kind = "offset"
param = "offset"
limit = 500
[source.partitions]
region = ["us", "jp"]
[destination]
schema = "quakes"
table = "events"
primary_key = ["id"]
[destination.columns]
time = "TimeStampTZ"
mag = "double  precision"
"""

FULL_ENV = {
    "DATABASE_URL": "postgresql://loader:pgpass-42@db.test:5432/warehouse",
    "API_BASE": "https://earthquake.test",
    "API_TOKEN": "tok-abcdef123456",
}

MINIMAL = """
[job]
name = "j"
[source]
kind = "rest"
url = "https://api.test/items"
[destination]
table = "items"
"""


def parse(text: str, env: dict[str, str] | None = None) -> Config:
    """Parse ``text`` as the file ``cfg.toml`` with an explicit environment."""
    return parse_config(text, source="cfg.toml", env=env or {})


def error_of(text: str, env: dict[str, str] | None = None) -> str:
    """The one-line message of the ConfigError that parsing ``text`` raises."""
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    message = str(info.value)
    assert "\n" not in message
    return message


def with_source(extra: str) -> str:
    """MINIMAL with ``extra`` lines appended to the [source] table."""
    return MINIMAL.replace('/items"\n', f'/items"\n{extra}\n')


def first_request(config: Config) -> tuple[str, dict[str, object], dict[str, str]]:
    """The rendered URL, params and headers of the config's first partition."""
    plan = plan_run(config)
    return render_request(config.source, plan.variables(plan.partitions[0]))


def with_job(extra: str) -> str:
    """MINIMAL with ``extra`` lines appended to the [job] table."""
    return MINIMAL.replace('name = "j"\n', f'name = "j"\n{extra}\n')


def with_schedule(extra: str) -> str:
    """MINIMAL with a [schedule] table holding ``extra``."""
    return MINIMAL + f"[schedule]\n{extra}\n"


def with_destination(extra: str) -> str:
    """MINIMAL with ``extra`` lines appended to the [destination] table."""
    return MINIMAL + extra + "\n"


def test_full_example_parses() -> None:
    """A complete config with every section parses into the values written."""
    config = parse(FULL, FULL_ENV)
    assert config.job.name == "earthquakes"
    assert config.schedule.timezone == "Asia/Tokyo"
    assert config.database.url == FULL_ENV["DATABASE_URL"]
    assert config.source.url == "https://earthquake.test/fdsnws/event/1/query"
    assert config.source.params["limit"] == 500
    assert config.source.params["verbose"] is True
    assert config.source.pagination.kind == "offset"
    assert config.source.partitions == {"region": ["us", "jp"]}
    assert first_request(config)[1]["region"] == "us", "a partition name is a run variable"
    assert config.destination.schema_ == "quakes"
    assert config.destination.write_mode == "merge"
    assert config.destination.columns == {"time": "timestamptz", "mag": "double precision"}


def test_defaults() -> None:
    """Unset keys default: schema public, UTC, cron 02:30, yesterday, no pagination, append."""
    config = parse(MINIMAL)
    assert config.destination.schema_ == "public"
    assert config.schedule.timezone == "UTC"
    assert config.schedule.expression == "cron(30 2 * * ? *)"
    assert config.job.logical_date == "yesterday"
    assert config.source.pagination.kind == "none"
    assert config.source.method == "GET"
    assert config.database.url is None
    assert config.destination.write_mode == "append"


@pytest.mark.parametrize(
    ("lines", "mode"),
    [('primary_key = ["id"]', "merge"), ('primary_key = ["id"]\nwrite = "replace"', "replace")],
)
def test_write_mode_with_primary_key(lines: str, mode: str) -> None:
    """A primary key means merge unless a write mode is given explicitly."""
    assert parse(with_destination(lines)).destination.write_mode == mode


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (with_source("foo = 1"), "cfg.toml: source.foo: unknown key"),
        (MINIMAL + "[extra]\nx = 1\n", "cfg.toml: extra: unknown key"),
        (MINIMAL.replace('name = "j"', ""), "cfg.toml: job.name: required key is missing"),
        (
            MINIMAL.replace('table = "items"', ""),
            "cfg.toml: destination.table: required key is missing",
        ),
        (
            with_source('[source.pagination]\nkind = "cursor"'),
            "cfg.toml: source.pagination.path: give exactly one of path or from_last_record",
        ),
        (
            with_source('[source.pagination]\nkind = "cursor"\npath = "next"\nfoo = 1'),
            "cfg.toml: source.pagination.foo: unknown key",
        ),
    ],
)
def test_unknown_and_missing_keys_name_their_dotted_path(text: str, expected: str) -> None:
    """Unknown and missing keys are one line naming the file and the dotted path."""
    assert error_of(text) == expected


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (with_source('max_pages = "many"'), "source.max_pages: must be a valid integer"),
        (with_job('lease_seconds = "x"'), "job.lease_seconds: must be a valid integer"),
        (with_job("lease_seconds = 1"), "job.lease_seconds: must be greater than or equal to 5"),
        (with_destination('primary_key = "id"'), "destination.primary_key: must be a valid list"),
        (with_source("read_timeout = 0"), "source.read_timeout: must be greater than 0"),
        (with_destination('schema = "dailyfetch"'), "destination.schema: 'dailyfetch' is reserved"),
        (MINIMAL.replace('name = "j"', 'name = "a b"'), "job.name: string should match pattern"),
    ],
)
def test_wrong_types_name_their_dotted_path(text: str, path: str) -> None:
    """A wrong type, an out-of-range or a reserved value is one line naming its dotted path."""
    assert path in error_of(text)


def test_several_problems_are_named_on_one_line_the_first_three_then_a_count() -> None:
    """Every problem is named (up to three, then how many more), so one edit fixes them all."""
    two = error_of(with_job("lease_seconds = 1\nfoo = 2"))
    assert two == "cfg.toml: job.lease_seconds: must be greater than or equal to 5; job.foo: unknown key"
    five = error_of(with_job("a = 1\nb = 2\nc = 3\nd = 4\ne = 5"))
    assert five == (
        "cfg.toml: job.a: unknown key; job.b: unknown key; job.c: unknown key (and 2 more problems)"
    )
    assert "\n" not in five


def test_bad_pagination_kind_lists_the_choices() -> None:
    """An unknown pagination kind names source.pagination.kind, the choices and the value."""
    message = error_of(with_source('[source.pagination]\nkind = "pages"'))
    assert message.startswith("cfg.toml: source.pagination.kind: must be one of ")
    for kind in ("page_number", "offset", "cursor", "next_url", "link_header", "none"):
        assert f"'{kind}'" in message
    assert "(got 'pages')" in message


def test_bad_write_mode() -> None:
    """A bad write mode, or merge without a primary key, is one line naming destination.write."""
    message = error_of(with_destination('write = "upsert"'))
    assert message.startswith("cfg.toml: destination.write: must be one of ")
    assert "'merge'" in message and "'append'" in message and "'upsert'" in message
    message = error_of(with_destination('write = "merge"'))
    assert message == "cfg.toml: destination.write: 'merge' needs primary_key"


def test_unknown_time_zone() -> None:
    """An unknown time zone names schedule.timezone and shows a valid example."""
    message = error_of(with_schedule('timezone = "Mars/Olympus"'))
    assert message.startswith("cfg.toml: schedule.timezone: 'Mars/Olympus' is not an IANA")


@pytest.mark.parametrize("expression", ["every day", "cron(bad)", "rate(0 days)", "cron(30 2 * * * *)"])
def test_bad_schedule_expression(expression: str) -> None:
    """A malformed schedule expression is one line naming schedule.expression."""
    message = error_of(with_schedule(f'expression = "{expression}"'))
    assert message.startswith("cfg.toml: schedule.expression: ")


def test_good_schedule_expressions() -> None:
    """cron(), rate() and at() expressions are accepted."""
    for expression in ("cron(0 2 * * ? *)", "rate(1 day)", "at(2026-03-01T10:00:00)"):
        assert parse(with_schedule(f'expression = "{expression}"')).schedule.expression == expression


def test_rest_needs_url_and_python_needs_function() -> None:
    """Each source kind names the key it is missing."""
    assert error_of(MINIMAL.replace('url = "https://api.test/items"', "")) == (
        "cfg.toml: source.url: required when kind = 'rest'"
    )
    python = MINIMAL.replace('kind = "rest"\nurl = "https://api.test/items"', 'kind = "python"')
    assert error_of(python) == "cfg.toml: source.function: required when kind = 'python'"
    bad_ref = python.replace('kind = "python"', 'kind = "python"\nfunction = "no colon"')
    assert "source.function: must look like 'package.module:function'" in error_of(bad_ref)


def test_unset_variable_names_key_path_and_variable() -> None:
    """${VAR} with VAR unset names the key's dotted path, the variable and how to fix it."""
    message = error_of(MINIMAL.replace("https://api.test", "${API_BASE}"))
    assert "source.url" in message
    assert "environment variable API_BASE is not set" in message
    assert "${API_BASE:-default}" in message


def test_default_used_when_variable_unset() -> None:
    """${VAR:-default} uses the default when VAR is unset and VAR when set."""
    text = MINIMAL.replace("https://api.test", "${API_BASE:-https://fallback.test}")
    assert parse(text).source.url == "https://fallback.test/items"
    assert parse(text, {"API_BASE": "https://real.test"}).source.url == "https://real.test/items"


def test_escaped_dollar_is_literal_outside_templates() -> None:
    """$${VAR} is a literal ${VAR}, never looked up, in a key that is not a template."""
    text = MINIMAL + '[database]\nurl = "postgresql://h/db?application_name=$${X}"\n'
    assert parse(text).database.url == "postgresql://h/db?application_name=${X}"


def test_escaped_dollar_is_literal_in_url() -> None:
    """$${X} in source.url renders as the literal text ${X}."""
    url, _, _ = first_request(parse(MINIMAL.replace("/items", "/items?tag=$${X}")))
    assert url == "https://api.test/items?tag=${X}"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (MINIMAL.replace("/items", "/{nope}"), "source.url"),
        (with_source('[source.params]\nq = "{nope}"'), "source.params.q"),
        (with_source('[source.headers]\nXDay = "{nope}"'), "source.headers.XDay"),
        pytest.param(
            with_source('[source.headers]\nX-Day = "{nope}"'),
            "source.headers.X-Day",
        ),
    ],
)
def test_unknown_run_variable(text: str, where: str) -> None:
    """{nope} in the url, a param or a header names the key and lists the known variables."""
    message = error_of(text)
    assert message.startswith(f"cfg.toml: {where}: unknown run variable {{nope}} (known: ")
    assert "date, end, end_utc, start, start_utc" in message


@pytest.mark.parametrize(
    ("partitions", "expected"),
    [
        (
            '"bad-name" = ["a"]',
            "source.partitions: partition name 'bad-name' must be a plain identifier",
        ),
        ('date = ["a"]', "source.partitions: partition name 'date' clashes with a run variable"),
        ("region = []", "source.partitions: partition 'region' needs at least one value"),
        ('region = ["a", "a"]', "source.partitions: partition 'region' has duplicate values"),
    ],
)
def test_partition_names_and_values(partitions: str, expected: str) -> None:
    """Partition names must be identifiers that are not run variables, with distinct values."""
    assert error_of(with_source(f"[source.partitions]\n{partitions}")) == f"cfg.toml: {expected}"


def test_declared_column_type_not_in_allow_list() -> None:
    """A declared column type outside the allow-list names the column and lists the types."""
    message = error_of(with_destination('[destination.columns]\nx = "text); DROP TABLE t; --"'))
    assert message.startswith("cfg.toml: destination.columns")
    assert "x: type 'text); DROP TABLE t; --' is not one of " in message
    assert "bigint" in message and "timestamptz" in message


def test_invalid_toml_names_file_and_line() -> None:
    """Invalid TOML names the file and the line of the problem."""
    text = MINIMAL + "oops = \n"
    message = error_of(text)
    assert message.startswith("cfg.toml: invalid TOML: ")
    assert f"line {text.count(chr(10))}" in message


def test_env_braces_kept_literally_after_rendering() -> None:
    """Braces in env values substituted into url, params and headers are not run variables."""
    text = FULL.replace('region = "{region}"', 'filter = "${FILTER}"').replace(
        "[source.headers]", '[source.headers]\nX-Tag = "${TAG}"'
    )
    env = {**FULL_ENV, "API_BASE": "https://api.test/{v1}", "FILTER": "a{b}c", "TAG": "{tag}"}
    url, params, headers = first_request(parse(text, env))
    assert url == "https://api.test/{v1}/fdsnws/event/1/query"
    assert params["filter"] == "a{b}c"
    assert headers["X-Tag"] == "{tag}"


def test_secrets_in_headers_and_database_url_are_registered() -> None:
    """Env values in headers and database.url are redacted; the ${API} base URL is not."""
    parse(FULL, FULL_ENV)
    assert "tok-abcdef123456" in REGISTRY
    assert "pgpass-42" in REGISTRY
    assert redact("auth=tok-abcdef123456 db=pgpass-42") == "auth=*** db=***"
    assert "https://earthquake.test" not in REGISTRY, "a ${API} base URL is not a secret"
    assert redact("GET https://earthquake.test/x") == "GET https://earthquake.test/x"


def test_secret_looking_key_or_variable_is_registered() -> None:
    """A param named like a secret, or a variable named like one, is registered."""
    text = with_source('[source.params]\napi_key = "${K}"\nq = "${SERVICE_TOKEN}"\nplain = "${PLAIN}"')
    parse(text, {"K": "key-value-1", "SERVICE_TOKEN": "tok-value-2", "PLAIN": "not-secret-3"})
    assert "key-value-1" in REGISTRY
    assert "tok-value-2" in REGISTRY
    assert "not-secret-3" not in REGISTRY


def test_header_secret_with_braces_is_redacted_as_sent() -> None:
    """A header secret containing braces is redacted in the form it is sent in."""
    parse(FULL, {**FULL_ENV, "API_TOKEN": "tok{abc}def"})
    assert redact("Authorization: Bearer tok{abc}def") == "Authorization: Bearer ***"


def test_load_config_missing_file_names_path(tmp_path: Path) -> None:
    """A missing file is a ConfigError naming the path and how to point at a config."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(missing) in str(info.value)
    assert "config file not found" in str(info.value)
    assert "-c FILE" in str(info.value)


def test_load_config_reads_file_and_names_it_in_errors(tmp_path: Path) -> None:
    """load_config parses the file, and its errors start with the file's path."""
    good = tmp_path / "good.toml"
    good.write_text(MINIMAL, encoding="utf-8")
    assert load_config(good).job.name == "j"
    bad = tmp_path / "bad.toml"
    bad.write_text(with_source("foo = 1"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: source\.foo: unknown key"):
        load_config(bad)


def test_resolve_config_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-c wins over $DAILYFETCH_CONFIG, which wins over ./dailyfetch.toml."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAILYFETCH_CONFIG", raising=False)
    assert resolve_config_path(None) == Path("dailyfetch.toml")
    monkeypatch.setenv("DAILYFETCH_CONFIG", "/etc/env.toml")
    assert resolve_config_path(None) == Path("/etc/env.toml")
    assert resolve_config_path("cli.toml") == Path("cli.toml")
    assert resolve_config_path(Path("p.toml")) == Path("p.toml")


def test_load_config_uses_environment_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without -c, load_config reads $DAILYFETCH_CONFIG, else ./dailyfetch.toml."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dailyfetch.toml").write_text(MINIMAL, encoding="utf-8")
    other = tmp_path / "other.toml"
    other.write_text(MINIMAL.replace('name = "j"', 'name = "other"'), encoding="utf-8")
    monkeypatch.delenv("DAILYFETCH_CONFIG", raising=False)
    assert load_config().job.name == "j"
    monkeypatch.setenv("DAILYFETCH_CONFIG", str(other))
    assert load_config().job.name == "other"
