"""Notifications end to end: real runs against the fake API and PostgreSQL, POSTed to a local webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from dailyfetch import ledger
from dailyfetch.notify import notify_after_run
from dailyfetch.runner import RunResult, run_job
from support.cli import skip_or_fail
from support.configs import load, make_config
from support.fakeapi import FakeAPI

TOKEN = "tok-live-5f4e3d2c1b0a9988"
DAY = date(2026, 11, 3)


@pytest.fixture(autouse=True)
def _apprise() -> None:
    """These tests send for real: apprise must be installed (a failure under DAILYFETCH_STRICT=1)."""
    try:
        import apprise  # noqa: F401
    except ImportError:
        skip_or_fail("apprise is not installed (pip install 'apprise>=1.8')")


class Webhook:
    """A local HTTP server that records the JSON body of every POST it receives."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.raw.append(body)
                hook.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The apprise URL that posts JSON here."""
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def types(self) -> list[str]:
        """The apprise notification type of each POST, in order."""
        return [body["type"] for body in self.bodies]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A running local webhook."""
    hook = Webhook()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def flaky_api() -> Iterator[FakeAPI]:
    """A fake API that answers 401 (echoing the token it got) while ``api.failing`` is set."""
    server = FakeAPI()
    server.failing = False  # type: ignore[attr-defined]

    def fail(seen: dict[str, Any]) -> tuple[int, dict[str, str], bytes] | None:
        if not server.failing:  # type: ignore[attr-defined]
            return None
        echoed = seen["headers"].get("Authorization", "")
        return 401, {}, json.dumps({"error": f"token rejected: {echoed}"}).encode()

    server.fail = fail
    server.start()
    yield server
    server.stop()


def _config(api_url: str, hook: Webhook, on: str = '["failure", "recovery"]') -> Any:
    text = make_config(
        api_url,
        partitions=["eu"],
        extra_source='retry_attempts = 1\nheaders = { Authorization = "Bearer ${API_TOKEN}" }',
    )
    text += f'[notify]\nurls = ["{hook.url}"]\non = {on}\n'
    return load(text, env={"API_TOKEN": TOKEN})


def _run(config: Any, db_url: str, day: date) -> RunResult:
    result = run_job(config, logical_date=day, database_url=db_url)
    notify_after_run(config, result, database_url=db_url, config_path="orders.toml")
    return result


def test_failed_run_posts_job_date_and_error_without_the_token(
    flaky_api: FakeAPI, webhook: Webhook, db_url: str
) -> None:
    """A failing run POSTs one failure notice naming job, date and error; the API token is not in it."""
    flaky_api.failing = True  # type: ignore[attr-defined]
    config = _config(flaky_api.url, webhook)
    result = _run(config, db_url, DAY)
    assert result.outcome == "failed"
    assert webhook.types() == ["failure"]
    (body,) = webhook.bodies
    text = body["title"] + "\n" + body["message"]
    assert "orders" in text and "2026-11-03" in text
    assert "401" in text
    assert "dailyfetch runs -c orders.toml" in text and "--debug" in text
    assert TOKEN not in webhook.raw[0].decode()
    assert any(TOKEN in r["headers"].get("Authorization", "") for r in flaky_api.requests), "token was sent"


def test_recovery_fires_once_after_a_run_of_failures(
    flaky_api: FakeAPI, webhook: Webhook, db_url: str
) -> None:
    """Success, failure, failure, success, success sends failure, failure, then one recovery."""
    config = _config(flaky_api.url, webhook)
    outcomes = []
    for offset, failing in enumerate([False, True, True, False, False]):
        flaky_api.failing = failing  # type: ignore[attr-defined]
        outcomes.append(_run(config, db_url, DAY + timedelta(days=offset)).outcome)
    assert outcomes == ["succeeded", "failed", "failed", "succeeded", "succeeded"]
    assert webhook.types() == ["failure", "failure", "success"]
    recovery = webhook.bodies[-1]
    assert "recovered" in recovery["title"] and "2026-11-06" in recovery["message"]


def test_retrying_the_failed_date_is_a_recovery(flaky_api: FakeAPI, webhook: Webhook, db_url: str) -> None:
    """A date that failed and then succeeds on a retry of the same run sends a recovery."""
    config = _config(flaky_api.url, webhook)
    flaky_api.failing = True  # type: ignore[attr-defined]
    assert _run(config, db_url, DAY).outcome == "failed"
    flaky_api.failing = False  # type: ignore[attr-defined]
    assert _run(config, db_url, DAY).outcome == "succeeded"
    assert webhook.types() == ["failure", "success"]


def test_backfilling_an_old_failure_after_recovery_is_quiet(
    flaky_api: FakeAPI, webhook: Webhook, db_url: str
) -> None:
    """Once a later date has succeeded, fixing an older failed date sends no second recovery."""
    config = _config(flaky_api.url, webhook)
    flaky_api.failing = True  # type: ignore[attr-defined]
    _run(config, db_url, DAY)
    flaky_api.failing = False  # type: ignore[attr-defined]
    _run(config, db_url, DAY + timedelta(days=1))
    _run(config, db_url, DAY)
    assert webhook.types() == ["failure", "success"]


# Ledger history written directly, for exact control over rows and order -----------------


def _insert(conn: psycopg.Connection[Any], day: date, status: str, rows: int, finished_minutes: int) -> int:
    """Insert a finished run of job ``orders`` with one partition; return its id."""
    finished = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=finished_minutes)
    row = conn.execute(
        "INSERT INTO dailyfetch.runs (job, logical_date, status, rows, attempts, started_at, finished_at, error) "
        "VALUES ('orders', %s, %s, %s, 1, %s, %s, %s) RETURNING id",
        (
            day,
            status,
            rows,
            finished - timedelta(seconds=30),
            finished,
            None if status == "succeeded" else "boom",
        ),
    ).fetchone()
    assert row is not None
    conn.execute(
        "INSERT INTO dailyfetch.partitions (run_id, key, vars, status, rows, attempts) "
        "VALUES (%s, '*', '{}', %s, %s, 1)",
        (row[0], status, rows),
    )
    return int(row[0])


def _history(db_url: str, runs: list[tuple[str, int]]) -> int:
    """Write ``runs`` (status, rows), one day and one minute apart, then a last success; return its id."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        ledger.ensure_ledger(conn)
        for i, (status, rows) in enumerate(runs):
            _insert(conn, DAY + timedelta(days=i), status, rows, i)
        return _insert(conn, DAY + timedelta(days=len(runs)), "succeeded", 0, len(runs))


def _notify_success(db_url: str, hook: Webhook, run_id: int, rows: int, on: str) -> list[str]:
    config = _config("http://127.0.0.1:9", hook, on=on)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE dailyfetch.runs SET rows = %s WHERE id = %s", (rows, run_id))
    result = RunResult("orders", DAY, "succeeded", rows=rows, duration=1.0, run_id=run_id)
    notify_after_run(config, result, database_url=db_url)
    return [body["title"] for body in hook.bodies]


@pytest.mark.parametrize(
    ("history", "rows", "fires"),
    [
        ([("succeeded", 100)] * 3, 49, True),
        ([("succeeded", 100)] * 3, 50, False),
        ([("succeeded", 100)] * 2, 1, False),  # two prior successes are not enough to judge
        ([("succeeded", 100)] * 2 + [("failed", 0)] * 3, 1, False),  # failures are not part of the median
        ([("succeeded", 10)] * 5 + [("succeeded", 100)] * 7, 49, True),  # only the last 7 successes count
        ([("succeeded", 100)] * 5 + [("succeeded", 10)] * 7, 6, False),
    ],
)
def test_low_volume_fires_exactly_below_the_trailing_median(
    webhook: Webhook, db_url: str, history: list[tuple[str, int]], rows: int, fires: bool
) -> None:
    """Low volume fires when rows < 0.5 x the median of the last 7 successes, given at least 3."""
    run_id = _history(db_url, history)
    titles = _notify_success(db_url, webhook, run_id, rows, on='["low_volume"]')
    assert titles == (["dailyfetch: orders fetched few rows for 2026-11-03"] if fires else [])


@pytest.mark.parametrize(
    ("history", "fires"),
    [
        ([("succeeded", 5), ("failed", 0)], True),
        ([("failed", 0), ("interrupted", 0)], True),
        ([("failed", 0), ("succeeded", 5)], False),
        ([], False),
    ],
)
def test_recovery_follows_the_previous_finished_run(
    webhook: Webhook, db_url: str, history: list[tuple[str, int]], fires: bool
) -> None:
    """A success is a recovery exactly when the run that finished before it failed or was interrupted."""
    run_id = _history(db_url, history)
    titles = _notify_success(db_url, webhook, run_id, 5, on='["recovery"]')
    assert titles == (["dailyfetch: orders recovered"] if fires else [])


def test_unreachable_webhook_never_fails_the_run(flaky_api: FakeAPI, db_url: str) -> None:
    """With the webhook down, the failed run still returns normally and nothing raises."""
    hook = Webhook()
    hook.server.shutdown()
    hook.server.server_close()  # nothing listens on its port any more
    flaky_api.failing = True  # type: ignore[attr-defined]
    config = _config(flaky_api.url, hook)
    assert _run(config, db_url, DAY).outcome == "failed"
