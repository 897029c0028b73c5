"""The Dockerfile's properties, and its install steps exercised without Docker."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"

# The two pip steps of the Dockerfile, verbatim: builder, then runtime stage.
WHEEL_STEP = "pip wheel --wheel-dir /wheels /src"
INSTALL_STEP = "pip install --no-index --find-links=/wheels dailyfetch"
# What the builder's `COPY . /src` brings, per .dockerignore's allow-list.
BUILD_INPUTS = ["pyproject.toml", "README.md", "src"]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for word, rest in _instructions():
        if word == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word, rest))
    return stages


def test_dockerfile_is_multi_stage_with_a_slim_final_image() -> None:
    """The Dockerfile builds in one stage and ships a python:3.1x-slim final stage."""
    stages = _stages()
    assert len(stages) >= 2
    final_from = stages[-1][0][1]
    assert re.match(r"python:(\$\{PYTHON_VERSION\}|3\.1[12])-slim\b", final_from), final_from
    arg = next(rest for word, rest in _instructions() if word == "ARG" and rest.startswith("PYTHON_VERSION="))
    assert arg.split("=", 1)[1] in {"3.11", "3.12"}


def test_final_stage_runs_dailyfetch_as_a_non_root_user() -> None:
    """The final stage sets a non-root USER, ENTRYPOINT ["dailyfetch"], CMD ["run"] and the config path."""
    final = _stages()[-1]
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert ("ENTRYPOINT", '["dailyfetch"]') in final
    assert ("CMD", '["run"]') in final
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "DAILYFETCH_CONFIG=/app/dailyfetch.toml" in env
    assert "PYTHONPATH=/app" in env


def test_final_stage_has_no_build_tools() -> None:
    """The final stage installs no compiler or package-manager toolchain and builds nothing."""
    final_runs = " ".join(rest for word, rest in _stages()[-1] if word == "RUN")
    for tool in ("apt-get", "apk ", "gcc", "build-essential", "pip wheel", "python -m build", "git "):
        assert tool not in final_runs, tool
    assert INSTALL_STEP in final_runs


def test_dockerignore_sends_the_build_inputs() -> None:
    """.dockerignore is an allow-list that lets through what the builder stage builds from."""
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines[[ln.strip() for ln in lines].index("*")]  # everything else is excluded
    for path in BUILD_INPUTS:
        assert f"!{path}" in lines or f"!{path}/" in lines, path
    assert WHEEL_STEP in " ".join(rest for word, rest in _stages()[0] if word == "RUN")


@pytest.mark.skipif(
    not (REPO / "src" / "dailyfetch" / "cli.py").exists(), reason="the dailyfetch package is not written yet"
)
def test_wheel_installs_into_a_clean_venv_and_runs(tmp_path: Path) -> None:
    """The Dockerfile's two pip steps, run here, give a working `dailyfetch --help` (and `dailyfetch tfvars`) in a clean virtualenv."""
    src = tmp_path / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        origin = REPO / name
        (shutil.copytree if origin.is_dir() else shutil.copy2)(origin, src / name)
    wheels = tmp_path / "wheels"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}

    builder = tmp_path / "builder"
    venv.create(builder, with_pip=True)
    wheel_step = WHEEL_STEP.replace("/wheels", str(wheels)).replace("/src", str(src))
    subprocess.run(
        [str(builder / "bin" / "python"), "-m", *shlex.split(wheel_step)],
        check=True,
        env=env,
        capture_output=True,
    )
    assert list(wheels.glob("dailyfetch-*.whl"))

    runtime = tmp_path / "runtime"
    venv.create(runtime, with_pip=True)
    install_step = INSTALL_STEP.replace("/wheels", str(wheels))
    subprocess.run(
        [str(runtime / "bin" / "python"), "-m", *shlex.split(install_step)],
        check=True,
        env=env,
        capture_output=True,
    )

    done = subprocess.run(
        [str(runtime / "bin" / "dailyfetch"), "--help"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "run" in done.stdout

    # The installed command writes the tfvars infra/variables.tf declares.
    example = REPO / "examples" / "earthquakes.toml"
    if example.exists():
        out = tmp_path / "infra" / "dailyfetch.auto.tfvars.json"
        done = subprocess.run(
            [str(runtime / "bin" / "dailyfetch"), "tfvars", "-c", str(example), "-o", str(out)],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        values = json.loads(out.read_text())
        assert set(values) == {"job_name", "schedule_expression", "schedule_timezone"}
        assert all(isinstance(v, str) and v for v in values.values())
