"""The fault suite: each scenario's pass condition is "the table equals the source".

Every scenario prints a ``FAULT`` line with its trials, rows expected and landed,
and time to recover; `pytest -s -k faults` shows them (they feed docs/faults.md).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dailyfetch.runner import run_job
from support.cli import dailyfetch_exe, run_cli, skip_or_fail
from support.configs import fetch_table, ledger_rows, load, make_config
from support.fakeapi import FakeAPI, make_records

DAY = date(2026, 11, 9)
PER = 150
TOKEN = "tok-faults-9d8c7b6a5f"


def report(scenario: str, *, trials: int, expected: int, landed: int, recover: float) -> None:
    """Print one line of the fault table."""
    print(
        f"FAULT | {scenario} | trials={trials} | expected={expected} | landed={landed} | recover_s={recover:.2f}"
    )


def source_ids(per: int = PER, partitions: tuple[str, ...] = ("eu", "us")) -> list[str]:
    """The ids the fake API serves for DAY."""
    return sorted(r["id"] for p in partitions for r in make_records(DAY.isoformat(), p, per))


def table_equals_source(db_url: str, per: int = PER) -> int:
    """Assert the table holds exactly the source's records; return the row count."""
    rows = fetch_table(db_url)
    assert [r["id"] for r in rows] == source_ids(per), "missing or duplicate rows"
    want = {r["id"]: r for p in ("eu", "us") for r in make_records(DAY.isoformat(), p, per)}
    for row in rows:
        assert {k: row[k] for k in want[row["id"]]} == want[row["id"]]
    return len(rows)


@pytest.fixture
def flaky_api() -> Iterator[FakeAPI]:
    """About 25% of requests fail: 503, 429 with Retry-After, connection resets, or stalls past the read timeout."""
    rng = random.Random(7)
    lock = threading.Lock()

    def fail(_req: dict[str, Any]) -> Any:
        with lock:
            roll = rng.random()
        if roll < 0.07:
            return (503, {}, b'{"error": "busy"}')
        if roll < 0.13:
            return (429, {"Retry-After": "1"}, b'{"error": "slow down"}')
        if roll < 0.19:
            return "reset"
        if roll < 0.25:
            return 1.5  # longer than read_timeout below
        return None

    server = FakeAPI(records_for=lambda d, p: make_records(d, p, PER), page_size=10, fail=fail).start()
    yield server
    server.stop()


def test_a_quarter_of_requests_failing_still_lands_the_source(
    flaky_api: FakeAPI, db_url: str, capsys: Any
) -> None:
    """With 25% of requests failing (503, 429+Retry-After, resets, stalls), the run succeeds and the table equals the source."""
    text = make_config(flaky_api.url, batch_size=40, extra_source="read_timeout = 0.5\nretry_attempts = 10\n"
                       'headers = { Authorization = "Bearer ${API_TOKEN}" }')  # fmt: skip
    started = time.monotonic()
    result = run_job(load(text, env={"API_TOKEN": TOKEN}), logical_date=DAY, database_url=db_url)
    elapsed = time.monotonic() - started
    assert result.outcome == "succeeded", result.error
    landed = table_equals_source(db_url)
    assert len(flaky_api.requests) > 2 * (PER // 10), "no request was retried"
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err
    report("25% failing requests", trials=1, expected=2 * PER, landed=landed, recover=elapsed)


def test_an_api_down_for_good_fails_in_bounded_time_and_the_ledger_says_why(db_url: str) -> None:
    """A dead API (connection refused) ends the run with exit 1 within the retry budget; the ledger names the cause."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = make_config(f"http://127.0.0.1:{port}", extra_source="retry_max_wait = 4")
    started = time.monotonic()
    result = run_job(load(text), logical_date=DAY, database_url=db_url)
    elapsed = time.monotonic() - started
    assert result.outcome == "failed" and result.exit_code == 1
    assert elapsed < 15
    ((status, error_class, error),) = ledger_rows(
        db_url, "SELECT status, error_class, error FROM dailyfetch.runs"
    )
    assert (
        status == "failed"
        and error_class == "TransientSourceError"
        and "cannot connect to 127.0.0.1" in error
    )
    report("API down for good", trials=1, expected=0, landed=0, recover=elapsed)


def _slow_api(delay: float = 0.03) -> FakeAPI:
    return FakeAPI(records_for=lambda d, p: make_records(d, p, PER), page_size=10, delay=delay).start()


def test_a_deadline_mid_run_commits_then_a_rerun_resumes(db_url: str) -> None:
    """A run that hits [job].timeout commits what it has, is 'interrupted' (exit 1), and the next run completes it."""
    api = _slow_api(0.1)
    try:
        text = make_config(api.url, batch_size=20).replace(
            'name = "orders"', 'name = "orders"\ntimeout = "1.5s"'
        )
        first = run_job(load(text), logical_date=DAY, database_url=db_url)
        assert first.outcome == "interrupted" and first.exit_code == 1
        assert "deadline" in (first.error or "")
        ((status, error),) = ledger_rows(db_url, "SELECT status, error FROM dailyfetch.runs")
        assert status == "interrupted" and "timeout" in error
        partial = len(fetch_table(db_url))
        assert 0 < partial < 2 * PER
        started = time.monotonic()
        second = run_job(load(text.replace('timeout = "1.5s"', "")), logical_date=DAY, database_url=db_url)
        assert second.outcome == "succeeded", second.error
    finally:
        api.stop()
    landed = table_equals_source(db_url)
    report(
        "deadline mid-run, then resume",
        trials=1,
        expected=2 * PER,
        landed=landed,
        recover=time.monotonic() - started,
    )


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_commits_exits_in_grace_then_resumes(
    sig: int, code: int, db_url: str, tmp_path: Path
) -> None:
    """SIGTERM/SIGINT mid-run: progress is committed, the run is 'interrupted', the exit code is 143/130 within the grace, and a re-run completes.

    The signal comes once a batch has committed, while the API holds every request after
    its tenth: mid-run however fast or slow the machine is. The held requests are let go
    as the signal is sent, as a slow API's would come back.
    """
    api = _slow_api(0.05)
    release = threading.Event()

    def hold_after_ten(request: dict[str, Any]) -> None:
        if len(api.requests) > 10:
            release.wait(30)

    api.fail = hold_after_ten
    proc: subprocess.Popen[str] | None = None
    try:
        config = tmp_path / "dailyfetch.toml"
        config.write_text(
            make_config(api.url, batch_size=20).replace(
                'name = "orders"', 'name = "orders"\nstop_grace = "5s"'
            )
        )
        argv = [
            *dailyfetch_exe(),
            "run",
            "-c",
            str(config),
            "--date",
            DAY.isoformat(),
            "--database-url",
            db_url,
        ]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not _committed_rows(db_url) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(sig)
        sent = time.monotonic()
        release.set()
        assert proc.wait(timeout=30) == code
        stop_seconds = time.monotonic() - sent
        assert stop_seconds < 5
        stderr = proc.stderr.read() if proc.stderr else ""
        assert stderr.strip().splitlines()[-1].startswith("Error: stopped by")
        ((status,),) = ledger_rows(db_url, "SELECT status FROM dailyfetch.runs")
        assert status == "interrupted"
        started = time.monotonic()
        again = run_cli("run", "-c", str(config), "--date", DAY.isoformat(), "--database-url", db_url)
        assert again.returncode == 0, again.stderr
    finally:
        release.set()
        if proc is not None and proc.poll() is None:  # a failed assertion leaves no run behind
            proc.kill()
            proc.wait()
        api.stop()
    landed = table_equals_source(db_url)
    report(f"{signal.Signals(sig).name} mid-run (stopped in {stop_seconds:.2f}s), then resume", trials=1,
           expected=2 * PER, landed=landed, recover=time.monotonic() - started)  # fmt: skip


def _committed_rows(db_url: str) -> int:
    """Rows committed so far by the run's partitions (0 before the ledger exists)."""
    try:
        return int(ledger_rows(db_url, "SELECT coalesce(sum(rows), 0) FROM dailyfetch.partitions")[0][0])
    except psycopg.errors.UndefinedTable:
        return 0


@pytest.mark.serial
def test_postgres_restart_mid_run_is_survived(pg_server: str, db_url: str, tmp_path: Path) -> None:
    """PostgreSQL restarting mid-run: the run reconnects, resumes from its last commit, and the table equals the source."""
    if "127.0.0.1:5432" not in pg_server:
        pytest.skip("restarts only the machine's PostgreSQL (the embedded one is covered by the kill trials)")
    version = subprocess.run(
        ["bash", "-c", "ls /etc/postgresql"], capture_output=True, text=True
    ).stdout.strip()
    if not version:
        skip_or_fail("pg_ctlcluster is not available to restart PostgreSQL")
    api = _slow_api(0.05)
    try:
        config = tmp_path / "dailyfetch.toml"
        config.write_text(make_config(api.url, batch_size=20))
        argv = [
            *dailyfetch_exe(),
            "run",
            "-c",
            str(config),
            "--date",
            DAY.isoformat(),
            "--database-url",
            db_url,
        ]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1.2)
        started = time.monotonic()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
            check=True,
        )
        code = proc.wait(timeout=120)
        recover = time.monotonic() - started
        assert code == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        api.stop()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
            check=False,
            capture_output=True,
        )
    landed = table_equals_source(db_url)
    report("PostgreSQL restart mid-run", trials=1, expected=2 * PER, landed=landed, recover=recover)


HOSTILE_BODIES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "html": (
        200,
        {"Content-Type": "text/html"},
        b"<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>",
    ),
    "truncated": (200, {}, b'{"items": [{"id": "a", "v": 1}, {"id": "b", "v'),
    "wrong shape": (200, {}, b'{"items": {"id": "a"}}'),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_BODIES))
def test_hostile_payloads_fail_clearly_and_write_nothing(kind: str, db_url: str) -> None:
    """HTML, truncated JSON and a wrong shape fail the run with the URL, status and first bytes; nothing is written."""
    body = HOSTILE_BODIES[kind]
    api = FakeAPI(fail=lambda req: body).start()
    try:
        result = run_job(load(make_config(api.url, kind="cursor")), logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "failed"
    assert api.url in (result.error or "") and "HTTP 200" in (result.error or "")
    assert body[2][:10].decode() in (result.error or "").replace("\\'", "'")
    assert ledger_rows(db_url, "SELECT to_regclass('public.orders')") == [(None,)]


def test_huge_strings_land_intact(db_url: str) -> None:
    """A 5 MB string field lands byte for byte."""
    huge = "ü" * 2_500_000 + "\n\t\"'\\"
    api = FakeAPI(records_for=lambda d, p: [{"id": 1, "blob": huge, "doc": {"blob": huge}}]).start()
    try:
        result = run_job(load(make_config(api.url, partitions=["eu"])), logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "succeeded", result.error
    (row,) = fetch_table(db_url)
    assert row["blob"] == huge and row["doc"]["blob"] == huge


def test_records_without_keys_fail_or_are_skipped_and_counted(db_url: str) -> None:
    """Records lacking their key fail the run by default; with on_bad_record = 'skip' they are counted and sampled."""
    records = [
        {"id": 1, "v": "a"},
        {"v": "no id"},
        {"id": None, "v": "null id"},
        "not an object",
        {"id": 2, "v": "b"},
    ]
    api = FakeAPI(records_for=lambda d, p: records).start()
    try:
        failed = run_job(load(make_config(api.url, partitions=["eu"])), logical_date=DAY, database_url=db_url)
        assert failed.outcome == "failed" and "on_bad_record" in (failed.error or "")
        skipping = load(make_config(api.url, partitions=["eu"], extra_source='on_bad_record = "skip"'))
        result = run_job(skipping, logical_date=date(2026, 11, 10), database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "succeeded", result.error
    assert [r["id"] for r in fetch_table(db_url)] == [1, 2]
    (count, sample), = ledger_rows(
        db_url, "SELECT bad_records, bad_sample FROM dailyfetch.partitions p JOIN dailyfetch.runs r ON r.id = p.run_id "
        "WHERE r.logical_date = '2026-11-10'")  # fmt: skip
    assert count == 3 and len(sample) == 3
    assert any("not a JSON object" in s["reason"] for s in sample)


def test_workers_share_one_run(db_url: str, tmp_path: Path) -> None:
    """`run --workers 3` starts three processes that share the partitions: every row once, one succeeded run."""
    api = FakeAPI(records_for=lambda d, p: make_records(d, p, PER), page_size=10, delay=0.02).start()
    try:
        config = tmp_path / "dailyfetch.toml"
        config.write_text(make_config(api.url, partitions=["eu", "us"], batch_size=30))
        done = run_cli(
            "run", "-c", str(config), "--date", DAY.isoformat(), "--database-url", db_url, "--workers", "3"
        )
    finally:
        api.stop()
    assert done.returncode == 0, done.stderr
    table_equals_source(db_url)
    assert ledger_rows(db_url, "SELECT status FROM dailyfetch.runs") == [("succeeded",)]
    emf = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"_aws"')]
    assert [e["RunSucceeded"] for e in emf] == [1], "exactly one worker records the run's success"


def test_concurrency_fetches_pages_ahead_and_lands_exactly_once(db_url: str) -> None:
    """concurrency = 8 keeps up to 8 requests in flight (never more) and still lands each row once."""
    api = FakeAPI(records_for=lambda d, p: make_records(d, p, PER), page_size=10, delay=0.05).start()
    try:
        config = load(make_config(api.url, batch_size=25, extra_source="concurrency = 8"))
        result = run_job(config, logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "succeeded", result.error
    table_equals_source(db_url)
    assert 4 <= api.max_in_flight <= 8, f"{api.max_in_flight} requests were in flight at once"


def test_requests_per_second_is_never_exceeded(db_url: str) -> None:
    """requests_per_second = 20 spaces requests so that no second holds more than 20 starts."""
    stamps: list[float] = []
    api = FakeAPI(records_for=lambda d, p: make_records(d, p, 60), page_size=10,
                  fail=lambda req: stamps.append(time.monotonic())).start()  # fmt: skip
    try:
        config = load(make_config(api.url, extra_source="requests_per_second = 20\nconcurrency = 4"))
        result = run_job(config, logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "succeeded", result.error
    stamps.sort()
    worst = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
    assert worst <= 21, f"{worst} requests within one second"


def test_a_deadline_between_partitions_is_still_an_interrupted_run(db_url: str) -> None:
    """A deadline that passes while one partition finishes leaves the next unclaimed and the run 'interrupted' (exit 1)."""
    api = _slow_api(0.1)
    try:
        text = make_config(api.url, partitions=["a", "b", "c"], batch_size=500)
        text = text.replace('name = "orders"', 'name = "orders"\ntimeout = "1s"')
        result = run_job(load(text), logical_date=DAY, database_url=db_url)
    finally:
        api.stop()
    assert result.outcome == "interrupted" and result.exit_code == 1
    ((status,),) = ledger_rows(db_url, "SELECT status FROM dailyfetch.runs")
    assert status == "interrupted"
