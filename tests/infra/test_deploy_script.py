"""scripts/deploy.sh run end to end against moto, with Docker replaced by a recorder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

DOCKER_STUB = """#!/bin/sh
# Records each docker call; `login` reads the password from stdin like Docker.
echo "docker $*" >> "$DOCKER_LOG"
case "$1" in login) cat > /dev/null ;; esac
exit 0
"""


@pytest.fixture
def stub_path(tmp_path: Path) -> tuple[str, Path]:
    """A PATH with a recording `docker`, the test venv's `aws`, terraform, git and coreutils, and no `dailyfetch`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(DOCKER_STUB)
    docker.chmod(0o755)
    aws = Path(sys.executable).parent / "aws"
    if not aws.exists():
        pytest.skip("the AWS CLI (awscli) is not in the test virtualenv")
    (bin_dir / "aws").symlink_to(aws)
    for tool in ("terraform", "git", "python3"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return f"{bin_dir}:/usr/bin:/bin", tmp_path / "docker.log"


def deploy_env(endpoint: str, stub: tuple[str, Path], workdir: Path) -> dict[str, str]:
    """The environment deploy.sh runs in: AWS at ``endpoint``, the stub PATH, tag test-1, no prompts."""
    from conftest import moto_env

    path, docker_log = stub
    env = {
        **moto_env(endpoint),
        "PATH": path,
        "DOCKER_LOG": str(docker_log),
        "INFRA_DIR": str(workdir),
        "CONFIG": "examples/earthquakes.toml",
        "IMAGE_TAG": "test-1",
        "AUTO_APPROVE": "1",
    }
    env.pop("PYTHONPATH", None)
    return env


def deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One run of scripts/deploy.sh from the repository root."""
    return subprocess.run(
        ["bash", "scripts/deploy.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


def test_first_deploy_creates_the_repository_pushes_then_applies(
    terraform: str, stub_path: tuple[str, Path], tmp_path: Path
) -> None:
    """deploy.sh creates the ECR repository first, builds and pushes <repo>:<tag>, then applies a task definition running that tag."""
    from conftest import copy_infra, moto_server

    _, docker_log = stub_path
    workdir = tmp_path / "infra"
    copy_infra(workdir)
    with moto_server() as endpoint:
        env = deploy_env(endpoint, stub_path, workdir)
        done = deploy(env)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        assert "first deploy: creating the ECR repository on its own" in done.stdout

        outputs = json.loads(
            subprocess.run(
                ["terraform", f"-chdir={workdir}", "output", "-json"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        repo_url = outputs["ecr_repository_url"]["value"]
        calls = docker_log.read_text().splitlines()
        assert calls[0].startswith("docker login --username AWS --password-stdin ")
        assert (
            calls[1]
            == f"docker build --platform linux/amd64 --build-arg CONFIG=examples/earthquakes.toml -t {repo_url}:test-1 ."
        )
        assert calls[2] == f"docker push {repo_url}:test-1"
        assert outputs["image_uri"]["value"] == f"{repo_url}:test-1"
        assert json.loads((workdir / "image.auto.tfvars.json").read_text()) == {"image_tag": "test-1"}
        # The secrets have no value yet, and the script says so.
        assert "secret DATABASE_URL has no value yet" in done.stdout
        assert "aws ecs run-task" in done.stdout

        # Once the tag is in ECR, a second deploy neither re-creates the repository nor rebuilds.
        import boto3

        ecr = boto3.client(
            "ecr",
            endpoint_url=endpoint,
            region_name=env["AWS_REGION"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1,
                "digest": "sha256:" + "0" * 64,
            },
            "layers": [],
        }
        ecr.put_image(
            repositoryName=outputs["ecr_repository_name"]["value"],
            imageManifest=json.dumps(manifest),
            imageTag="test-1",
        )
        again = deploy(env)
        assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
        assert "first deploy" not in again.stdout
        assert "is already in ECR; not rebuilding" in again.stdout
        assert docker_log.read_text().splitlines() == calls


def test_a_state_that_cannot_be_read_stops_the_deploy_instead_of_starting_over(
    terraform: str, stub_path: tuple[str, Path], tmp_path: Path
) -> None:
    """Only a missing state means a first deploy; when `terraform state list` fails otherwise (a
    remote state out of reach, say), the deploy stops with Terraform's message."""
    from conftest import copy_infra

    path, docker_log = stub_path
    wrapper = Path(path.split(":")[0]) / "terraform"
    wrapper.unlink()  # the real terraform, but `state list` fails as an unreachable backend would
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"state list"*) echo "Error: Failed to load state: RequestError: send request failed" >&2;'
        f' exit 1;; esac\nexec {terraform} "$@"\n'
    )
    wrapper.chmod(0o755)
    workdir = tmp_path / "infra"
    copy_infra(workdir)
    # Nothing listens at that endpoint: the deploy must stop before any AWS call.
    done = deploy(deploy_env("http://127.0.0.1:9", stub_path, workdir))
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert (
        f"deploy: error: cannot read the Terraform state in {workdir}: Error: Failed to load state"
        in done.stderr
    )
    assert "first deploy" not in done.stdout
    assert not docker_log.exists()
