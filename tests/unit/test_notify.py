"""Unit tests for notifications: which events fire, what they say, and that sending never fails a run."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import structlog

from dailyfetch import notify
from dailyfetch.log import configure_logging
from dailyfetch.notify import (
    RunHistory,
    build_notifications,
    missed_notification,
    notify_after_run,
    notify_missed,
    register_notify_secrets,
)
from dailyfetch.redact import REGISTRY, redact, register_secret
from dailyfetch.runner import RunResult
from support.cli import skip_or_fail
from support.configs import load

DAY = date(2026, 11, 27)
SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#alerts"
UNREACHABLE_DB = "postgresql://nobody:secret-db-pw@127.0.0.1:1/none"


def _config(
    on: str = '["failure", "recovery"]', urls: str = '["json://127.0.0.1:9/hook"]', extra: str = ""
) -> Any:
    return load(
        f"""
[job]
name = "orders"
[source]
kind = "rest"
url = "http://api.invalid/{{date}}"
[destination]
table = "orders"
[notify]
urls = {urls}
on = {on}
{extra}
"""
    )


def _result(
    outcome: str = "failed", rows: int = 40, error: str | None = "HTTP 500 from the API"
) -> RunResult:
    return RunResult("orders", DAY, outcome, rows=rows, duration=12.34, error=error, run_id=7)  # type: ignore[arg-type]


class _CurrentStderr:
    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """JSON log lines written during the test, parsed."""
    configure_logging(json_logs=True)
    # pytest swaps sys.stderr between setup and call: write to whichever is current.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()))  # type: ignore[arg-type]

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]

    yield read
    structlog.reset_defaults()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, notify.Notification]]:
    """Record what would be sent instead of sending it."""
    calls: list[tuple[str, notify.Notification]] = []

    def fake(url: str, note: notify.Notification) -> str | None:
        calls.append((url, note))
        return None

    monkeypatch.setattr(notify, "_send_one", fake)
    return calls


def _apprise() -> Any:
    try:
        import apprise
    except ImportError:
        skip_or_fail("apprise is not installed (pip install 'apprise>=1.8')")
    return apprise


def test_failure_names_job_date_error_and_next_commands() -> None:
    """A failure says which job and date failed, the error in one line, and how to see more."""
    (note,) = build_notifications(
        _config(), _result(error="HTTP 500\n  from the API\n"), RunHistory(), "jobs/orders.toml"
    )
    assert note.event == "failure"
    assert "orders" in note.title and "2026-11-27" in note.title
    assert "Error: HTTP 500 from the API" in note.body
    assert "dailyfetch runs -c jobs/orders.toml" in note.body
    assert "dailyfetch run -c jobs/orders.toml --date 2026-11-27 --debug" in note.body


def test_failure_without_a_config_path_uses_the_default_lookup() -> None:
    """Without a config path the hint commands rely on the default config lookup."""
    (note,) = build_notifications(_config(), _result(), RunHistory())
    assert "See recent runs: dailyfetch runs\n" in note.body


def test_long_error_is_cut_and_secrets_are_redacted() -> None:
    """The error line is at most 300 characters and never carries a registered secret."""
    register_secret("sk-live-0123456789")
    (note,) = build_notifications(
        _config(), _result(error="token sk-live-0123456789 " + "x" * 1000), RunHistory()
    )
    error_line = next(line for line in note.body.splitlines() if line.startswith("Error: "))
    assert "sk-live" not in note.body
    assert len(error_line) <= len("Error: ") + 300


def test_interrupted_run_is_reported_as_interrupted() -> None:
    """An interrupted run sends a failure notice worded as an interruption."""
    (note,) = build_notifications(_config(), _result(outcome="interrupted"), RunHistory())
    assert note.event == "failure"
    assert "was interrupted" in note.title


@pytest.mark.parametrize("outcome", ["already_succeeded", "in_progress_elsewhere"])
def test_runs_that_did_no_work_send_nothing(outcome: str) -> None:
    """A skipped run or one left to other workers notifies nobody."""
    history = RunHistory(recovered=True, trailing_rows=(100, 100, 100))
    assert (
        build_notifications(_config(on='["failure", "recovery", "low_volume"]'), _result(outcome), history)
        == []
    )


def test_events_not_chosen_are_not_sent() -> None:
    """With on = ["recovery"], a failure sends nothing."""
    assert build_notifications(_config(on='["recovery"]'), _result(), RunHistory()) == []


def test_recovery_only_after_failures() -> None:
    """A success is a recovery only when the ledger says failures came before it."""
    ok = _result("succeeded", error=None, rows=100)
    assert build_notifications(_config(), ok, RunHistory(recovered=False)) == []
    (note,) = build_notifications(_config(), ok, RunHistory(recovered=True))
    assert note.event == "recovery"
    assert "orders recovered" in note.title and "2026-11-27" in note.body


@pytest.mark.parametrize(
    ("rows", "trailing", "fires"),
    [
        (49, (100, 100, 100), True),  # below half the median
        (50, (100, 100, 100), False),  # exactly at the threshold is fine
        (10, (100, 100), False),  # fewer than three prior successes: no judgement
        (10, (), False),
        (20, (10,) * 7 + (1000,) * 7, False),  # only the last 7 count: median 10, not 505
        (40, (100,) * 7 + (0,) * 7, True),  # only the last 7 count: median 100, not 50
    ],
)
def test_low_volume_against_the_trailing_median(rows: int, trailing: tuple[int, ...], fires: bool) -> None:
    """Low volume fires below fraction x the median of the last window successes, given 3 of them."""
    config = _config(on='["low_volume"]', extra="low_volume_fraction = 0.5\nlow_volume_window = 7")
    notes = build_notifications(
        config, _result("succeeded", rows=rows, error=None), RunHistory(trailing_rows=trailing)
    )
    assert [n.event for n in notes] == (["low_volume"] if fires else [])
    if fires:
        assert f"{rows:,} rows" in notes[0].body and "--force" in notes[0].body


def test_missed_lists_sorted_unique_dates() -> None:
    """A missed-days notice lists each date once, oldest first, and how to run one."""
    note = missed_notification(_config(), [date(2026, 11, 5), date(2026, 11, 3), date(2026, 11, 5)])
    assert note.event == "missed"
    assert "2 scheduled days: 2026-11-03, 2026-11-05." in note.body
    assert "--date 2026-11-03" in note.body


def test_missed_shortens_a_long_list() -> None:
    """More than ten missed days are summarised."""
    days = [date(2026, 10, d) for d in range(1, 16)]
    assert "and 5 more" in missed_notification(_config(), days).body


def test_notify_missed_respects_on(sent: list[Any]) -> None:
    """notify_missed sends only when "missed" is among the chosen events."""
    notify_missed(_config(on='["failure"]'), [DAY])
    assert sent == []
    notify_missed(_config(on='["missed"]'), [DAY])
    assert [note.event for _, note in sent] == ["missed"]


def test_no_urls_means_no_work(sent: list[Any]) -> None:
    """Without URLs nothing is sent and the ledger is not even opened."""
    notify_after_run(_config(urls="[]"), _result(), database_url=UNREACHABLE_DB)
    notify_after_run(_config(urls="[]"), _result("succeeded"), database_url=UNREACHABLE_DB)
    assert sent == []


def test_failure_notice_does_not_need_the_database(sent: list[Any]) -> None:
    """A failed run is reported even when the database is down (no ledger query for failures)."""
    notify_after_run(_config(), _result(), database_url=UNREACHABLE_DB)
    assert [note.event for _, note in sent] == ["failure"]


def test_unreadable_history_is_logged_and_skipped(sent: list[Any], logs: Any) -> None:
    """When the ledger cannot be read, recovery is skipped with a warning and nothing raises."""
    notify_after_run(_config(), _result("succeeded", error=None), database_url=UNREACHABLE_DB)
    assert sent == []
    (line,) = [line for line in logs() if line["event"] == "notify.history_failed"]
    assert "secret-db-pw" not in json.dumps(line)


def test_unusable_url_is_logged_counted_and_never_raises(
    logs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL apprise cannot use is logged as notify.failed, counted, and the call returns normally."""
    before = notify.COUNTS.failed
    notify_after_run(_config(urls='["notaservice://tok-abcdefgh1234"]'), _result(), database_url=None)
    lines = logs()
    (failed,) = [line for line in lines if line["event"] == "notify.failed"]
    assert failed["event"] == "notify.failed" and failed["job"] == "orders"
    assert "tok-abcdefgh1234" not in json.dumps(lines)
    assert notify.COUNTS.failed == before + 1


def test_failures_are_counted_in_an_emf_line(logs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A notification that could not be sent is counted in the NotificationsFailed metric."""
    notify_after_run(_config(urls='["notaservice://x", "notaservice://y"]'), _result(), database_url=None)
    doc = json.loads(capsys.readouterr().out)
    assert doc["NotificationsFailed"] == 2 and doc["job"] == "orders"
    assert doc["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "NotificationsFailed", "Unit": "Count"}
    ]


def test_a_raising_plugin_is_contained(monkeypatch: pytest.MonkeyPatch, logs: Any) -> None:
    """An exception inside apprise becomes a logged failure, not a failed run."""
    apprise = _apprise()

    def boom(self: Any, **kwargs: Any) -> bool:
        raise RuntimeError(f"plugin exploded for {SLACK}")

    monkeypatch.setattr(apprise.Apprise, "notify", boom)
    notify_after_run(_config(urls=f'["{SLACK}"]'), _result(), database_url=None)
    (failed,) = [line for line in logs() if line["event"] == "notify.failed"]
    assert "RuntimeError: plugin exploded" in failed["error"]
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in json.dumps(failed)


def test_apprise_log_records_do_not_leak(
    monkeypatch: pytest.MonkeyPatch, logs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """apprise's own warnings are captured and shown redacted as the failure's reason."""
    apprise = _apprise()

    def refuse(self: Any, **kwargs: Any) -> bool:
        logging.getLogger("apprise").warning("Failed to send to %s: HTTP 403", SLACK)
        return False

    monkeypatch.setattr(apprise.Apprise, "notify", refuse)
    notify_after_run(_config(urls=f'["{SLACK}"]'), _result(), database_url=None)
    lines = logs()
    (failed,) = [line for line in lines if line["event"] == "notify.failed"]
    assert "HTTP 403" in failed["error"]
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in json.dumps(lines) + capsys.readouterr().err


def test_notify_urls_and_their_tokens_become_secrets() -> None:
    """Tokens in an apprise URL's password, query, host or path are registered; host names are not."""
    register_notify_secrets(
        [
            SLACK,
            "mailto://alerts:mail-pass-99@example.com",
            "ntfy://ntfy.sh/dailyfetch-alerts-x7",
            "json://localhost:8080/hook?token=tk-123456",
        ]
    )
    for secret in (
        "T1JJ3T3L2",
        "A1BRTD4JD",
        "TIiajkdnlazkcOXrIdevi7FQ",
        "mail-pass-99",
        "dailyfetch-alerts-x7",
        "tk-123456",
    ):
        assert secret in REGISTRY, secret
    assert redact("sent to example.com via localhost") == "sent to example.com via localhost"
