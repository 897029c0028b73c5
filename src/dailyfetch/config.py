"""The shape of ``dailyfetch.toml``: pydantic models, validated completely before a run.

Every section forbids unknown keys, so a typo is an error that names its dotted
path rather than a silently ignored setting. Loading the file, interpolating
``${VAR}`` and turning validation errors into one-line messages lives in
:mod:`dailyfetch.config_file`.
"""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from dailyfetch.window import Window

IDENTIFIER_MAX = 63  # PostgreSQL's NAMEDATALEN - 1

# Types a user may declare in [destination.columns]. An allow-list: the type is
# spliced into DDL, so anything else is rejected at config time.
DECLARABLE_TYPES = frozenset(
    {
        "bigint", "integer", "smallint", "double precision", "real", "numeric",
        "boolean", "text", "jsonb", "json", "date", "timestamptz", "timestamp",
        "time", "uuid", "inet", "interval",
    }
)  # fmt: skip

RUN_VARIABLES = frozenset({"date", "start", "end", "start_utc", "end_utc"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class JobConfig(_Section):
    """``[job]``: the job's identity and what a run without ``--date`` fetches."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
    logical_date: Literal["today", "yesterday"] = "yesterday"
    window: str = "1d"
    lease_seconds: Annotated[int, Field(ge=5, le=3600)] = 60
    timeout: str | None = None
    stop_grace: str = "25s"

    @field_validator("timeout", "stop_grace")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        from dailyfetch.stopping import parse_duration

        if value is not None and parse_duration(value) <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        from dailyfetch.window import Window

        return Window.parse(value).text

    @property
    def run_window(self) -> Window:
        """``window`` parsed: what one run covers."""
        from dailyfetch.window import Window

        return Window.parse(self.window)

    @property
    def timeout_seconds(self) -> float | None:
        """``timeout`` in seconds (``None``: no deadline)."""
        from dailyfetch.stopping import parse_duration

        return parse_duration(self.timeout) if self.timeout else None

    @property
    def stop_grace_seconds(self) -> float:
        """``stop_grace`` in seconds."""
        from dailyfetch.stopping import parse_duration

        return parse_duration(self.stop_grace)


class ScheduleConfig(_Section):
    """``[schedule]``: an EventBridge Scheduler expression and its IANA time zone."""

    expression: str = "cron(30 2 * * ? *)"
    timezone: str = "UTC"
    catch_up: Literal["none", "latest", "all"] = "latest"
    catch_up_days: Annotated[int, Field(ge=1, le=366)] = 7

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from dailyfetch.errors import ConfigError
        from dailyfetch.schedule_expression import parse_timezone

        try:
            parse_timezone(value)
        except ConfigError:
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. 'Asia/Tokyo')") from None
        return value

    @field_validator("expression")
    @classmethod
    def _valid_expression(cls, value: str) -> str:
        from dailyfetch.errors import ConfigError
        from dailyfetch.schedule_expression import parse_schedule_expression

        try:
            parse_schedule_expression(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value


class DatabaseConfig(_Section):
    """``[database]``: where the rows land. Overridden by ``--database-url`` and env vars."""

    url: str | None = None


class PageNumberPagination(_Section):
    """Pages 1, 2, 3 ... in a query parameter; stops at the first empty page."""

    kind: Literal["page_number"]
    param: str = "page"
    start: int = 1


class OffsetPagination(_Section):
    """An offset and a limit in query parameters; stops at the first empty page."""

    kind: Literal["offset"]
    param: str = "offset"
    limit_param: str = "limit"
    limit: Annotated[int, Field(ge=1)] = 100
    start: Annotated[int, Field(ge=0)] = 0


class CursorPagination(_Section):
    """A cursor sent back in ``param``: read from the body at ``path``, or taken from the last record.

    ``path``: where the next cursor is (stops when missing, null or empty).
    ``from_last_record``: the field of the page's last record to send as the cursor
    (Stripe's ``starting_after = <last id>``); stops on an empty page, or when the
    boolean at ``has_more`` is false.
    """

    kind: Literal["cursor"]
    param: str = "cursor"
    path: str | None = None
    from_last_record: str | None = None
    has_more: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CursorPagination:
        if (self.path is None) == (self.from_last_record is None):
            raise ValueError("path: give exactly one of path or from_last_record")
        if self.has_more is not None and self.from_last_record is None:
            raise ValueError("has_more: only used with from_last_record")
        return self


class NextUrlPagination(_Section):
    """The next page's URL, read from the body at ``path``."""

    kind: Literal["next_url"]
    path: str


class LinkHeaderPagination(_Section):
    """RFC 8288 ``Link: <...>; rel="next"`` headers."""

    kind: Literal["link_header"]


class NoPagination(_Section):
    """One request per partition."""

    kind: Literal["none"] = "none"


Pagination = Annotated[
    PageNumberPagination
    | OffsetPagination
    | CursorPagination
    | NextUrlPagination
    | LinkHeaderPagination
    | NoPagination,
    Field(discriminator="kind"),
]

ParamValue = str | int | float | bool

_AUTH_FIELDS = {
    "bearer": ("token",),
    "header": ("name", "value"),
    "query": ("param", "value"),
    "basic": ("username", "password"),
    "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
}


class AuthConfig(_Section):
    """``[source.auth]``: how requests authenticate; every secret from the environment."""

    kind: Literal["bearer", "header", "query", "basic", "oauth2_client_credentials"]
    token: str | None = None
    name: str | None = None
    value: str | None = None
    param: str | None = None
    username: str | None = None
    password: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> AuthConfig:
        needed = _AUTH_FIELDS[self.kind]
        for key in needed:
            if not getattr(self, key):
                raise ValueError(f"{key}: required when kind = '{self.kind}'")
        allowed = {"kind", *needed, *(("scope",) if self.kind == "oauth2_client_credentials" else ())}
        for key in type(self).model_fields:
            if key not in allowed and getattr(self, key) is not None:
                raise ValueError(f"{key}: not used when kind = '{self.kind}'")
        return self


class IncrementalConfig(_Section):
    """``[source.incremental]``: fetch what changed since the last run's high-water mark."""

    cursor: Annotated[str, Field(min_length=1)]
    param: str | None = None
    initial: str
    lookback: str | None = None

    @field_validator("initial")
    @classmethod
    def _initial_value(cls, value: str) -> str:
        from dailyfetch.incremental import parse_cursor

        parse_cursor(value)
        return value

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: str | None) -> str | None:
        from dailyfetch.stopping import parse_duration

        if value is not None and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
            parse_duration(value)
        return value


class SourceConfig(_Section):
    """``[source]``: a declarative REST endpoint or a Python function."""

    kind: Literal["rest", "python"]
    url: str | None = None
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, ParamValue] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    records: str | None = None
    pagination: Pagination = Field(default_factory=NoPagination)
    function: str | None = None
    partitions: dict[str, list[str | int]] = Field(default_factory=dict)
    connect_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    read_timeout: Annotated[float, Field(gt=0, le=3600)] = 60.0
    request_timeout: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    allowed_hosts: list[str] = Field(default_factory=list)
    max_pages: Annotated[int, Field(ge=1)] | None = None
    page_limit: Annotated[int, Field(ge=1)] = 100_000  # more pages in one attempt fail the partition
    repeated_pages: Literal["fail", "allow"] = "fail"  # "allow": a page's body or records may repeat
    retry_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    retry_max_wait: Annotated[float, Field(gt=0, le=3600)] = 120.0
    concurrency: Annotated[int, Field(ge=1, le=64)] = 1
    requests_per_second: Annotated[float, Field(gt=0, le=10_000)] | None = None
    on_bad_record: Literal["fail", "skip"] = "fail"
    auth: AuthConfig | None = None
    incremental: IncrementalConfig | None = None

    @field_validator("partitions")
    @classmethod
    def _partition_values(cls, value: dict[str, list[str | int]]) -> dict[str, list[str | int]]:
        for name, values in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"partition name '{name}' must be a plain identifier")
            if name in RUN_VARIABLES:
                raise ValueError(f"partition name '{name}' clashes with a run variable")
            if not values:
                raise ValueError(f"partition '{name}' needs at least one value")
            if len({str(v) for v in values}) != len(values):
                raise ValueError(f"partition '{name}' has duplicate values")
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        name = r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]"  # or [IPv6]
        for entry in value:
            if not re.fullmatch(f"({name})(:\\d{{1,5}})?", entry):
                raise ValueError(
                    f"'{entry}' is not a host name: give 'cdn.example.com', 'cdn.example.com:8443' "
                    "or '*.example.com' (no scheme, no path)"
                )
        return value

    @model_validator(mode="after")
    def _pages_within_the_limit(self) -> SourceConfig:
        if self.max_pages is not None and self.max_pages > self.page_limit:
            raise ValueError(
                f"max_pages: {self.max_pages} is above page_limit ({self.page_limit}); raise page_limit too"
            )
        return self

    @field_validator("function")
    @classmethod
    def _function_ref(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[\w.]+:[\w.]+", value):
            raise ValueError("must look like 'package.module:function'")
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> SourceConfig:
        if self.kind == "rest":
            if not self.url:
                raise ValueError("url: required when kind = 'rest'")
            if self.function:
                raise ValueError("function: only allowed when kind = 'python'")
        elif not self.function:
            raise ValueError("function: required when kind = 'python'")
        known = RUN_VARIABLES | set(self.partitions) | ({"since"} if self.incremental else set())
        templates: list[tuple[str, str]] = [("url", self.url or "")]
        templates += [(f"params.{k}", v) for k, v in self.params.items() if isinstance(v, str)]
        templates += [(f"headers.{k}", v) for k, v in self.headers.items()]
        for where, text in templates:
            for name in template_fields(text, where):
                if name not in known:
                    choices = ", ".join(sorted(known))
                    raise ValueError(f"{where}: unknown run variable {{{name}}} (known: {choices})")
        return self


class DestinationConfig(_Section):
    """``[destination]``: the table, its key and how rows are written."""

    table: Annotated[str, Field(min_length=1, max_length=IDENTIFIER_MAX)]
    schema_: Annotated[str, Field(alias="schema", min_length=1, max_length=IDENTIFIER_MAX)] = "public"
    # Key fields of any length: a field's column is named by dailyfetch.load.names.
    primary_key: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    write: Literal["merge", "append", "replace"] | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000

    @field_validator("table", "schema_")
    @classmethod
    def _identifier_bytes(cls, value: str) -> str:
        if len(value.encode()) > IDENTIFIER_MAX or "\x00" in value:  # PostgreSQL would cut it silently
            raise ValueError(f"must be at most {IDENTIFIER_MAX} bytes in UTF-8, without NUL")
        return value

    @field_validator("columns")
    @classmethod
    def _declared_types(cls, value: dict[str, str]) -> dict[str, str]:
        for column, pg_type in value.items():
            normal = " ".join(pg_type.lower().split())
            if normal not in DECLARABLE_TYPES:
                choices = ", ".join(sorted(DECLARABLE_TYPES))
                raise ValueError(f"{column}: type '{pg_type}' is not one of {choices}")
        return {k: " ".join(v.lower().split()) for k, v in value.items()}

    @model_validator(mode="after")
    def _write_mode(self) -> DestinationConfig:
        if self.write == "merge" and not self.primary_key:
            raise ValueError("write: 'merge' needs primary_key")
        if self.schema_ == "dailyfetch":
            raise ValueError("schema: 'dailyfetch' is reserved for the run ledger")
        return self

    @property
    def write_mode(self) -> Literal["merge", "append", "replace"]:
        """The effective write mode: ``merge`` when a primary key is given, else ``append``."""
        if self.write is not None:
            return self.write
        return "merge" if self.primary_key else "append"


NotifyEvent = Literal["failure", "recovery", "missed", "low_volume"]
_DEFAULT_EVENTS: tuple[NotifyEvent, ...] = ("failure", "recovery")


class NotifyConfig(_Section):
    """``[notify]``: apprise URLs and the events that reach them."""

    urls: list[str] = Field(default_factory=list)
    on: list[NotifyEvent] = Field(default_factory=lambda: list(_DEFAULT_EVENTS))
    low_volume_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.5
    low_volume_window: Annotated[int, Field(ge=2, le=365)] = 7


class Config(_Section):
    """A whole ``dailyfetch.toml``."""

    job: JobConfig
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    source: SourceConfig
    destination: DestinationConfig
    notify: NotifyConfig = Field(default_factory=NotifyConfig)


def template_fields(text: str, where: str = "value") -> list[str]:
    """The ``{name}`` run variables in ``text``; ``{{`` and ``}}`` are literal braces."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc} (write '{{{{' for a literal brace)") from None
    names: list[str] = []
    for _, field, _, _ in parsed:
        if field is None:
            continue
        name = re.split(r"[.\[!:]", field, maxsplit=1)[0]
        if not name:
            raise ValueError(f"{where}: empty placeholder {{}}; name a run variable such as {{date}}")
        names.append(name)
    return names
