"""Unit tests: a registered secret never reaches the log output, wherever it sits in a log call."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from dailyfetch.log import configure_logging
from dailyfetch.redact import register_secret, register_url_secrets

TOKEN = "tok-9f8e7d6c5b4a3210"
BEARER = f"Bearer {TOKEN}"
PASSWORD = "hunter2-Pa55word!"
SHORT_DSN = "postgresql://u:pw@h/db"
DSN = f"postgresql://app:{PASSWORD}@db.internal:5432/prod"
API_KEY = "AK-1234567890abcdef"
API_URL = f"https://api.example.com/v1/events?date=2026-11-27&api_key={API_KEY}"
SECRETS = [TOKEN, PASSWORD, SHORT_DSN, API_KEY]

Emit = Callable[[Any], None]


def _message(log: Any) -> None:
    log.info(f"connecting with {BEARER} to {DSN}")


def _positional(log: Any) -> None:
    log.info("connecting with %s to %s", BEARER, SHORT_DSN)


def _keyword(log: Any) -> None:
    log.info("request.sent", authorization=BEARER, password=PASSWORD, dsn=SHORT_DSN)


def _nested(log: Any) -> None:
    log.info(
        "request.sent",
        request={
            "headers": {"Authorization": BEARER, TOKEN: "as a key"},
            "params": [API_KEY, {"deeper": [SHORT_DSN, (PASSWORD,)]}],
            "tags": {DSN},
        },
    )


def _exception(log: Any) -> None:
    try:
        try:
            raise ConnectionError(f"cannot reach {DSN}")
        except ConnectionError as inner:
            raise RuntimeError(f"giving up on {SHORT_DSN} with {BEARER}") from inner
    except RuntimeError:
        log.exception("run.failed")


def _exception_value(log: Any) -> None:
    log.error("run.failed", error=ValueError(f"bad password {PASSWORD}"))


def _bound(log: Any) -> None:
    log.bind(dsn=SHORT_DSN, token=TOKEN).info("run.started")
    structlog.contextvars.bind_contextvars(key=API_KEY)
    try:
        log.info("partition.started")
    finally:
        structlog.contextvars.clear_contextvars()


def _url(log: Any) -> None:
    log.info("page.fetched", url=API_URL, next=API_URL.replace("2026-11-27", "2026-11-28") + "&page=2")


POSITIONS = {
    "event message": _message,
    "positional arguments": _positional,
    "keyword value": _keyword,
    "nested dicts and lists": _nested,
    "log.exception": _exception,
    "exception as a value": _exception_value,
    "bound context": _bound,
    "url": _url,
}


@pytest.fixture(autouse=True)
def _secrets() -> Iterator[None]:
    """Register the secrets as the config and the database URL resolution would."""
    register_secret(BEARER)
    register_secret(PASSWORD)
    register_secret(SHORT_DSN)
    register_url_secrets(DSN)
    register_url_secrets(API_URL)
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def _logged(capsys: pytest.CaptureFixture[str], json_logs: bool, emit: Emit) -> str:
    capsys.readouterr()
    configure_logging(json_logs=json_logs, debug=True)
    emit(structlog.get_logger("dailyfetch"))
    captured = capsys.readouterr()
    assert captured.out == "", "logs go to stderr, never stdout"
    assert captured.err.strip(), "nothing was logged"
    return captured.err


@pytest.mark.parametrize("json_logs", [True, False], ids=["json", "console"])
@pytest.mark.parametrize("position", list(POSITIONS))
def test_secret_is_redacted(capsys: pytest.CaptureFixture[str], position: str, json_logs: bool) -> None:
    """A secret in this position of a log call is printed as *** in JSON and console output."""
    err = _logged(capsys, json_logs, POSITIONS[position])
    for secret in SECRETS:
        assert secret not in err, f"{secret!r} leaked via {position}"
    assert "***" in err


def test_json_lines_keep_their_shape(capsys: pytest.CaptureFixture[str]) -> None:
    """Off a TTY each event is one JSON object with its stable event name, redacted in place."""
    err = _logged(capsys, True, lambda log: [emit(log) for emit in POSITIONS.values()])
    lines = [json.loads(line) for line in err.splitlines()]
    assert len(lines) == len(POSITIONS) + 1  # _bound logs twice
    assert {line["event"] for line in lines} >= {"request.sent", "run.failed", "run.started", "page.fetched"}
    keyword = next(line for line in lines if line.get("password"))
    assert keyword["password"] == "***"
    assert keyword["authorization"] == "***"
    failed = next(line for line in lines if "exception" in line)
    assert "RuntimeError: giving up on *** with ***" in failed["exception"]
    assert "ConnectionError: cannot reach" in failed["exception"]


def test_url_keeps_everything_but_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    """A logged URL keeps its host and harmless parameters; only the key is masked."""
    err = _logged(capsys, True, _url)
    line = json.loads(err)
    assert line["url"] == "https://api.example.com/v1/events?date=2026-11-27&api_key=***"


def test_unregistered_text_is_untouched(capsys: pytest.CaptureFixture[str]) -> None:
    """Redaction masks registered secrets only, so ordinary fields stay readable."""
    err = _logged(capsys, True, lambda log: log.info("run.finished", rows=1234, status="succeeded"))
    line = json.loads(err)
    assert (line["rows"], line["status"], line["event"]) == (1234, "succeeded", "run.finished")
