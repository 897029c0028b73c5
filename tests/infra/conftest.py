"""Fixtures for the infrastructure tests: Terraform against moto's server.

These tests need terraform, moto[server] and boto3, which live in their own
virtual environment. `bash scripts/test-infra.sh` sets that up and sets
DAILYFETCH_INFRA_TESTS=1; elsewhere (the package's own test run) they skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
REGION = "ap-northeast-1"  # the region in terraform.tfvars.example


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("DAILYFETCH_INFRA_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="infrastructure tests run through `bash scripts/test-infra.sh`")
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def terraform() -> str:
    """Path of the terraform binary (skip when absent, unless strict)."""
    path = shutil.which("terraform")
    if path is None:
        if os.environ.get("DAILYFETCH_STRICT") == "1":
            pytest.fail("terraform is not on PATH (DAILYFETCH_STRICT=1)")
        pytest.skip("terraform is not on PATH")
    return path


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start a moto_server on a free port; yield its URL; stop it."""
    port = _free_port()
    log = open(os.environ.get("MOTO_LOG", os.devnull), "ab")  # noqa: SIM115
    # AWS managed policies (AmazonECSTaskExecutionRolePolicy) exist only when asked for.
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {url}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def moto_env(endpoint: str) -> dict[str, str]:
    """Environment pointing the AWS provider, the AWS CLI and boto3 at moto, with dummy keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
    )
    return env


def copy_infra(workdir: Path) -> None:
    """infra/*.tf into workdir, with terraform.tfvars.example as terraform.tfvars."""
    workdir.mkdir(parents=True, exist_ok=True)
    for tf in INFRA.glob("*.tf"):
        shutil.copy(tf, workdir / tf.name)
    shutil.copy(INFRA / "terraform.tfvars.example", workdir / "terraform.tfvars")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto_server on a free port for the whole session."""
    pytest.importorskip("moto")
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def aws_env(moto_endpoint: str) -> dict[str, str]:
    """Environment pointing the AWS provider and boto3 at the session's moto."""
    return moto_env(moto_endpoint)


@dataclass
class Deployment:
    """A configuration applied to moto: its outputs and a boto3 factory."""

    workdir: Path
    outputs: dict[str, object]
    env: dict[str, str]
    endpoint: str

    def client(self, service: str):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def terraform(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_terraform(self.workdir, self.env, *args, check=check)


def run_terraform(
    workdir: Path, env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["terraform", *args, "-no-color"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"terraform {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def deployment(
    terraform: str, aws_env: dict[str, str], moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """infra/ applied to moto with terraform.tfvars.example as terraform.tfvars."""
    workdir = tmp_path_factory.mktemp("infra")
    copy_infra(workdir)
    run_terraform(workdir, aws_env, "init", "-input=false")
    run_terraform(workdir, aws_env, "apply", "-input=false", "-auto-approve")
    out = run_terraform(workdir, aws_env, "output", "-json")
    outputs = {k: v["value"] for k, v in json.loads(out.stdout).items()}
    yield Deployment(workdir=workdir, outputs=outputs, env=aws_env, endpoint=moto_endpoint)
