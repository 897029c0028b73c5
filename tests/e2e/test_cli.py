"""The installed `dailyfetch` command in a subprocess: exit codes, one-line errors, the ledger, secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from support.cli import dailyfetch_exe, run_cli
from support.configs import ledger_rows, make_config
from support.fakeapi import FakeAPI

DAY = "2026-11-05"
TOKEN = "tok-3f9a1c77e2b94d0b"
API_KEY = "key-77aa55cc99ee"
DB_PASSWORD = "pw-b00b1e5-secret"


def _with_password(db_url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(db_url)
    if str(info["host"]).startswith("/"):
        return f"postgresql://{info['user']}:{DB_PASSWORD}@/{info['dbname']}?host={info['host']}"
    return f"postgresql://{info['user']}:{DB_PASSWORD}@{info['host']}:{info['port']}/{info['dbname']}"


def test_version_prints_the_package_version() -> None:
    """`dailyfetch --version` prints the installed package's version and exits 0."""
    from importlib.metadata import version

    done = subprocess.run([*dailyfetch_exe(), "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"dailyfetch {version('dailyfetch')}\n"


def test_help_works_as_command_and_as_module() -> None:
    """`dailyfetch --help` and `python -m dailyfetch --help` both list the commands."""
    for argv in ([*dailyfetch_exe(), "--help"], [sys.executable, "-m", "dailyfetch", "--help"]):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert done.returncode == 0
        for command in ("run", "runs", "check"):
            assert command in done.stdout


def test_config_error_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    """A bad pagination kind exits 2 with one line naming source.pagination.kind."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config("http://127.0.0.1:9", pagination='{ kind = "pages" }'))
    done = run_cli("run", "-c", str(config))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ") and "source.pagination.kind: must be one of" in lines[0]


def test_unset_env_var_and_missing_file_exit_2(tmp_path: Path) -> None:
    """An unset ${VAR} and a missing config file are config errors (exit 2) that name the problem."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config("${NOT_SET_ANYWHERE}"))
    done = run_cli("check", "-c", str(config))
    assert done.returncode == 2 and "NOT_SET_ANYWHERE" in done.stderr and "source.url" in done.stderr
    missing = run_cli("run", "-c", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "nope.toml" in missing.stderr


def test_config_found_through_env_var(tmp_path: Path, api: FakeAPI, db_url: str) -> None:
    """$DAILYFETCH_CONFIG names the config when -c is absent."""
    config = tmp_path / "elsewhere.toml"
    config.write_text(make_config(api.url))
    done = run_cli("run", "--date", DAY, "--database-url", db_url, env={"DAILYFETCH_CONFIG": str(config)})
    assert done.returncode == 0, done.stderr


def test_run_then_rerun_is_a_no_op_and_force_fetches_again(tmp_path: Path, api: FakeAPI, db_url: str) -> None:
    """A second run of a succeeded date exits 0 without requests; --force fetches it again."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(api.url))
    first = run_cli("run", "-c", str(config), "--date", DAY, "--database-url", db_url)
    assert first.returncode == 0, first.stderr
    sent = len(api.requests)
    second = run_cli("run", "-c", str(config), "--date", DAY, "--database-url", db_url)
    assert second.returncode == 0 and len(api.requests) == sent
    assert "already succeeded" in second.stderr
    forced = run_cli("run", "-c", str(config), "--date", DAY, "--database-url", db_url, "--force")
    assert forced.returncode == 0 and len(api.requests) == 2 * sent
    assert ledger_rows(db_url, "SELECT count(*) FROM orders") == [(50,)]
    listed = run_cli("runs", "-c", str(config), "--database-url", db_url).stdout.splitlines()
    assert [line.split()[:4] for line in listed] == [[DAY, "succeeded", "50", "rows"]] * 2
    assert listed[0].rstrip().endswith("--force #1") and "--force" not in listed[1], (
        "which run is the refetch"
    )


def test_a_date_whose_window_has_not_closed_is_refused_unless_early(
    tmp_path: Path, api: FakeAPI, db_url: str
) -> None:
    """`run --date` for a day still to come exits 2 naming --early, sends nothing and records nothing."""
    from datetime import UTC, datetime, timedelta

    ahead = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(api.url))
    refused = run_cli("run", "-c", str(config), "--date", ahead, "--database-url", db_url)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"Error: --date: {ahead} is ahead: its window ends at ")
    assert api.requests == []
    assert ledger_rows(db_url, "SELECT to_regclass('dailyfetch.runs') IS NULL") == [(True,)]
    early = run_cli("run", "-c", str(config), "--date", ahead, "--database-url", db_url, "--early")
    assert early.returncode == 0, early.stderr
    assert ledger_rows(db_url, "SELECT logical_date::text, status FROM dailyfetch.runs") == [
        (ahead, "succeeded")
    ]
    args = ("--date", ahead, "--database-url", db_url, "--early", "--force", "--workers", "2")
    workers = run_cli("run", "-c", str(config), *args)  # the worker processes are early too
    assert workers.returncode == 0, workers.stderr
    assert ledger_rows(db_url, "SELECT generation, status FROM dailyfetch.runs ORDER BY generation") == [
        (1, "succeeded"),
        (2, "succeeded"),
    ]


def test_runs_json_lists_the_ledger_newest_first(tmp_path: Path, api: FakeAPI, db_url: str) -> None:
    """`runs --json` prints the contract's fields for each run, newest first."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(api.url))
    for day in ("2026-11-01", "2026-11-02"):
        assert run_cli("run", "-c", str(config), "--date", day, "--database-url", db_url).returncode == 0
    done = run_cli("runs", "-c", str(config), "--json", "--database-url", db_url)
    runs = json.loads(done.stdout)
    assert [r["logical_date"] for r in runs] == ["2026-11-02", "2026-11-01"]
    for run in runs:
        assert {"job", "logical_date", "status", "rows", "started_at", "finished_at", "error"} <= set(run)
        assert run["status"] == "succeeded" and run["rows"] == 50 and run["error"] is None
        assert "T" in run["started_at"] and "T" in run["finished_at"]
    assert (
        len(
            json.loads(
                run_cli("runs", "-c", str(config), "--json", "--limit", "1", "--database-url", db_url).stdout
            )
        )
        == 1
    )


def test_failed_run_exits_1_with_one_line_and_debug_adds_traceback(tmp_path: Path, db_url: str) -> None:
    """An HTTP 403 fails the run: exit 1, one line with the status and URL; --debug adds the traceback."""
    api = FakeAPI(fail=lambda req: (403, {}, b'{"error": "forbidden"}')).start()
    try:
        config = tmp_path / "dailyfetch.toml"
        config.write_text(make_config(api.url))
        done = run_cli(
            "run", "-c", str(config), "--date", DAY, "--database-url", db_url, env={"NO_COLOR": "1"}
        )
        debug = run_cli("run", "-c", str(config), "--date", DAY, "--database-url", db_url, "--debug")
    finally:
        api.stop()
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: HTTP 403") and api.url in last
    assert "Traceback" not in done.stderr
    assert debug.returncode == 1
    rows = ledger_rows(db_url, "SELECT status, error_class, error FROM dailyfetch.runs")
    assert rows[0][0] == "failed" and rows[0][1] == "SourceError" and "HTTP 403" in rows[0][2]


def test_check_masks_secrets_and_sends_nothing(tmp_path: Path, api: FakeAPI, db_url: str) -> None:
    """`check` prints the first request with the token masked and sends no request."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(
        make_config(api.url, extra_source='headers = { Authorization = "Bearer ${API_TOKEN}" }')
    )
    done = run_cli("check", "-c", str(config), "--database-url", db_url, env={"API_TOKEN": TOKEN})
    assert done.returncode == 0, done.stderr
    assert f"GET {api.url}/page_number/" in done.stdout and "Authorization: ***" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert api.requests == []


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_secrets_never_reach_output_or_ledger(outcome: str, tmp_path: Path, db_url: str) -> None:
    """The token, the API key and the DB password appear nowhere: stdout, stderr, --debug, ledger, runs."""

    def fail(req: dict[str, object]) -> tuple[int, dict[str, str], bytes] | None:
        if outcome == "failure":  # an API that echoes the credentials it got, in its error body
            return 500, {}, f'{{"error": "bad token {TOKEN} key {API_KEY}"}}'.encode()
        return None

    api = FakeAPI(fail=fail).start()
    try:
        config = tmp_path / "dailyfetch.toml"
        config.write_text(
            make_config(
                api.url,
                extra_source='headers = { Authorization = "Bearer ${API_TOKEN}" }\nparams = { api_key = "${API_KEY}", per_page = 10 }\nmax_pages = 3\nretry_attempts = 2',
            )
        )
        url = _with_password(db_url)
        env = {"API_TOKEN": TOKEN, "API_KEY": API_KEY, "DATABASE_URL": url}
        outputs = [
            run_cli("run", "-c", str(config), "--date", DAY, "--debug", env=env, timeout=300),
            run_cli("runs", "-c", str(config), "--json", env=env),
            run_cli("check", "-c", str(config), env=env),
        ]
    finally:
        api.stop()
    assert outputs[0].returncode == (0 if outcome == "success" else 1)
    assert any(r["headers"].get("Authorization") == f"Bearer {TOKEN}" for r in api.requests)
    with psycopg.connect(db_url) as conn:
        ledger = str(
            conn.execute(
                "SELECT r.*, p.* FROM dailyfetch.runs r JOIN dailyfetch.partitions p ON p.run_id = r.id"
            ).fetchall()
        )
    text = "\n".join(o.stdout + o.stderr for o in outputs) + ledger
    for secret in (TOKEN, API_KEY, DB_PASSWORD):
        assert secret not in text
    if outcome == "failure":
        assert "***" in outputs[0].stderr


def test_embedded_postgres_is_the_default(tmp_path: Path, api: FakeAPI) -> None:
    """With no database URL anywhere, `run` starts the embedded PostgreSQL and lands the rows there."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(make_config(api.url))
    env = {"DAILYFETCH_HOME": str(tmp_path / "home"), "DATABASE_URL": "", "DAILYFETCH_DATABASE_URL": ""}
    done = run_cli("run", "-c", str(config), "--date", DAY, env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "home" / "pgdata" / "PG_VERSION").read_text().strip() == "18"
    runs = json.loads(run_cli("runs", "-c", str(config), "--json", env=env).stdout)
    assert [(r["status"], r["rows"]) for r in runs] == [("succeeded", 50)]
    peek = run_cli("peek", "-c", str(config), env=env)
    assert "public.orders: 50 rows" in peek.stdout


def test_runs_missing_lists_scheduled_dates_without_success(
    tmp_path: Path, api: FakeAPI, db_url: str
) -> None:
    """`runs --missing --since D --json` lists the scheduled logical dates that have no succeeded run."""
    from datetime import date, timedelta

    config = tmp_path / "dailyfetch.toml"
    config.write_text(
        make_config(api.url).replace("[source]", '[schedule]\nexpression = "cron(0 3 * * ? *)"\n[source]')
    )
    yesterday = date.today() - timedelta(days=1)
    since = yesterday - timedelta(days=3)
    done = run_cli(
        "run",
        "-c",
        str(config),
        "--date",
        (yesterday - timedelta(days=1)).isoformat(),
        "--database-url",
        db_url,
    )
    assert done.returncode == 0, done.stderr
    listed = run_cli(
        "runs",
        "-c",
        str(config),
        "--missing",
        "--since",
        since.isoformat(),
        "--json",
        "--database-url",
        db_url,
    )
    assert listed.returncode == 0, listed.stderr
    missing = json.loads(listed.stdout)
    assert (yesterday - timedelta(days=1)).isoformat() not in missing
    assert since.isoformat() in missing and (since + timedelta(days=1)).isoformat() in missing
