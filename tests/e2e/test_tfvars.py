"""`dailyfetch tfvars` and `next` read only the job's name and schedule: a deploy step has no API token."""

from __future__ import annotations

import json
import os
from pathlib import Path

from support.cli import run_cli

CONFIG = """\
[job]
name = "orders"
[source]
kind = "rest"
url = "${API}/orders/{date}"
headers = { Authorization = "Bearer ${API_TOKEN}" }
[destination]
table = "orders"
primary_key = ["id"]
[schedule]
expression = "cron(30 2 * * ? *)"
timezone = "Asia/Tokyo"
"""
WANT = {"job_name": "orders", "schedule_expression": "cron(30 2 * * ? *)", "schedule_timezone": "Asia/Tokyo"}


def without_secrets() -> dict[str, str]:
    """The environment of a deploy job: no API or API_TOKEN."""
    return {k: v for k, v in os.environ.items() if k not in ("API", "API_TOKEN")}


def repo(tmp_path: Path) -> Path:
    """A checkout: the config at the top, the Terraform files in infra/."""
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "main.tf").write_text("# terraform\n")
    (tmp_path / "dailyfetch.toml").write_text(CONFIG)
    return tmp_path


def test_tfvars_from_the_repository_writes_into_infra_without_the_api_secrets(tmp_path: Path) -> None:
    """From the checkout's top, with the API's variables unset, the file lands in infra/ where Terraform reads it."""
    top = repo(tmp_path)
    done = run_cli("tfvars", "-c", "dailyfetch.toml", cwd=top, env=without_secrets())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote infra/dailyfetch.auto.tfvars.json"
    assert json.loads((top / "infra" / "dailyfetch.auto.tfvars.json").read_text()) == WANT
    assert "<unset" not in (top / "infra" / "dailyfetch.auto.tfvars.json").read_text()


def test_tfvars_from_infra_writes_beside_the_terraform_files(tmp_path: Path) -> None:
    """From infra/ itself, as infra/README.md shows it: not infra/infra/."""
    top = repo(tmp_path)
    done = run_cli("tfvars", "-c", "../dailyfetch.toml", cwd=top / "infra", env=without_secrets())
    assert done.returncode == 0, done.stderr
    assert json.loads((top / "infra" / "dailyfetch.auto.tfvars.json").read_text()) == WANT
    assert not (top / "infra" / "infra").exists()


def test_tfvars_where_no_terraform_files_are_is_a_usage_error(tmp_path: Path) -> None:
    """Nowhere Terraform would read it: exit 2, naming the directory, and nothing written."""
    (tmp_path / "dailyfetch.toml").write_text(CONFIG)
    done = run_cli("tfvars", "-c", "dailyfetch.toml", cwd=tmp_path, env=without_secrets())
    assert done.returncode == 2
    assert f"no Terraform files in {tmp_path}" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dailyfetch.toml"]


def test_next_from_a_config_needs_no_api_secrets(tmp_path: Path) -> None:
    """`next -c` prints the schedule's fire times with the API's variables unset."""
    done = run_cli("next", "-c", str(repo(tmp_path) / "dailyfetch.toml"), "-n", "1", env=without_secrets())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("cron(30 2 * * ? *): at 02:30 every day (Asia/Tokyo)")


def test_an_unset_variable_is_still_named_when_the_config_is_invalid(tmp_path: Path) -> None:
    """Where a placeholder cannot stand in (a number), the error names the unset variable, as `check` does."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(CONFIG.replace('table = "orders"', 'table = "orders"\nbatch_size = "${BATCH}"'))
    for command in (["tfvars", "-o", str(tmp_path / "x.json")], ["next"], ["check"]):
        done = run_cli(
            *command, "-c", str(config), env={**without_secrets(), "API": "http://a", "API_TOKEN": "t"}
        )
        assert done.returncode == 2, (command, done.stderr)
        assert "destination.batch_size: environment variable BATCH is not set" in done.stderr, command


def test_a_real_problem_beside_an_unset_secret_is_named_not_the_secret(tmp_path: Path) -> None:
    """A typo in a deploy step without the API token: the typo is the error, not the token it does not need."""
    config = tmp_path / "dailyfetch.toml"
    config.write_text(CONFIG.replace('table = "orders"', 'table = "orders"\nbatch_sise = 5'))
    for command in (["tfvars", "-o", str(tmp_path / "x.json")], ["next"]):
        done = run_cli(*command, "-c", str(config), env=without_secrets())
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.strip() == f"Error: {config}: destination.batch_sise: unknown key", command


def test_check_still_requires_every_variable(tmp_path: Path) -> None:
    """`check` validates what a run needs: an unset API token is an error there."""
    done = run_cli("check", "-c", str(repo(tmp_path) / "dailyfetch.toml"), env=without_secrets())
    assert done.returncode == 2
    assert "environment variable API" in done.stderr
