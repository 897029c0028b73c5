"""Terraform conventions of infra/: typed, described, validated, documented, complete.

Run as a script (`.venv-infra/bin/python tests/infra/test_terraform_conventions.py`)
to regenerate the inputs and outputs tables in infra/README.md.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
README = INFRA / "README.md"
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"

SEED_FILES = [
    "main.tf",
    "variables.tf",
    "data.tf",
    "iam.tf",
    "security_groups.tf",
    "ecr.tf",
    "logs.tf",
    "ecs.tf",
    "ecs_task.tf",
    "scheduler.tf",
    "outputs.tf",
]
PLANNED_FILES = ["alerts.tf", "secrets.tf", "versions.tf"]
# Contract with `dailyfetch tfvars`, which writes infra/dailyfetch.auto.tfvars.json.
TFVARS_KEYS = {"job_name", "schedule_expression", "schedule_timezone"}
MUST_VALIDATE = ["schedule_expression", "schedule_timezone", "cpu", "memory", "task_count", "alert_email"]


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps HCL string quotes and ${...} wrappers; strip them."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                text = json.loads(value)
            except json.JSONDecodeError:
                text = value[1:-1]
            return text.replace("$${", "${").replace("%%{", "%{")  # HCL template escapes
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
        return value
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def _blocks(kind: str) -> dict[str, dict[str, Any]]:
    import hcl2

    found: dict[str, dict[str, Any]] = {}
    for path in sorted(INFRA.glob("*.tf")):
        with path.open() as handle:
            for block in hcl2.load(handle).get(kind, []):
                for name, body in block.items():
                    found[_unquote(name)] = {**_unquote(body), "__file__": path.name}
    return found


def variables() -> dict[str, dict[str, Any]]:
    return _blocks("variable")


def outputs() -> dict[str, dict[str, Any]]:
    return _blocks("output")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_tables() -> str:
    """The README's inputs and outputs tables, generated from the configuration."""
    lines = ["## Inputs", "", "| Name | Description | Type | Default | Required |", "|---|---|---|---|:---:|"]
    for name, var in sorted(variables().items()):
        required = "default" not in var
        default = "n/a" if required else f"`{json.dumps(var['default'])}`"
        lines.append(
            f"| `{name}` | {_cell(var['description'])} | `{_cell(str(var['type']))}` | {_cell(default)} | {'yes' if required else 'no'} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for name, out in sorted(outputs().items()):
        lines.append(f"| `{name}` | {_cell(out['description'])} |")
    return "\n".join(lines)


def _readme_with_tables() -> str:
    text = README.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render_tables()}\n{END}{tail}"


@pytest.fixture(scope="module", autouse=True)
def _hcl2() -> None:
    pytest.importorskip("hcl2")


def test_seed_layout_and_planned_files_exist() -> None:
    """infra/ keeps the seed's files and adds alerts.tf, secrets.tf and versions.tf."""
    missing = [f for f in SEED_FILES + PLANNED_FILES if not (INFRA / f).is_file()]
    assert not missing


def test_every_variable_is_typed_described_and_not_nullable() -> None:
    """Every variable has a type, a description and nullable = false (none has a null default)."""
    for name, var in variables().items():
        assert var.get("type"), name
        assert len(var.get("description", "")) > 10, name
        assert var.get("nullable") is False, name
        assert var["__file__"] == "variables.tf", name


def test_key_inputs_are_validated() -> None:
    """The schedule expression, time zone, CPU/memory pair, task_count and email have validation blocks."""
    all_vars = variables()
    for name in MUST_VALIDATE:
        assert all_vars[name].get("validation"), name


def test_tfvars_contract_variables_exist() -> None:
    """The variables `dailyfetch tfvars` writes exist with exactly those names, as strings."""
    all_vars = variables()
    for name in TFVARS_KEYS:
        assert all_vars[name]["type"] == "string", name


def test_every_output_is_described_and_none_exposes_a_secret_value() -> None:
    """Every output has a description; none reads a secret's value or is marked sensitive."""
    for name, out in outputs().items():
        assert len(out.get("description", "")) > 10, name
        assert "secret_string" not in json.dumps(out), name
        assert out["__file__"] == "outputs.tf", name


def test_no_secret_value_is_managed_by_terraform() -> None:
    """No .tf file creates a secret version or holds a connection string, so no value reaches the state."""
    text = "\n".join(p.read_text() for p in INFRA.glob("*.tf"))
    assert "aws_secretsmanager_secret_version" not in text
    assert not re.search(r"postgres(ql)?://", text)
    assert not re.search(r"postgres(ql)?://", (INFRA / "terraform.tfvars.example").read_text())


def test_tfvars_example_sets_every_variable() -> None:
    """terraform.tfvars.example sets every variable (and only those), so copying it is enough for a plan."""
    import hcl2

    example = INFRA / "terraform.tfvars.example"
    with example.open() as handle:
        names = {k for k in hcl2.load(handle) if not k.startswith("__")}
    assert names == set(variables())


def test_metric_names_are_defined_once_and_match_the_package() -> None:
    """The EMF namespace, dimension and success metric live in one locals block and match dailyfetch.metrics."""
    tf = {p.name: p.read_text() for p in INFRA.glob("*.tf")}
    assert [n for n, t in tf.items() if '"RunSucceeded"' in t] == ["main.tf"]
    main = tf["main.tf"]
    metrics_py = REPO / "src" / "dailyfetch" / "metrics.py"
    if not metrics_py.exists():
        pytest.skip("src/dailyfetch/metrics.py is not written yet")
    py = metrics_py.read_text()
    for tf_name, py_name in [
        ("metric_namespace", "NAMESPACE"),
        ("metric_dimension", "DIMENSION"),
        ("metric_run_succeeded", "RUN_SUCCEEDED"),
    ]:
        tf_value = re.search(rf'{tf_name}\s*=\s*"([^"]+)"', main).group(1)  # type: ignore[union-attr]
        py_value = re.search(rf'^{py_name}\s*=\s*"([^"]+)"', py, re.M).group(1)  # type: ignore[union-attr]
        assert tf_value == py_value, (tf_name, tf_value, py_value)


def test_readme_tables_are_up_to_date() -> None:
    """infra/README.md's inputs and outputs tables match the configuration (regenerate by running this file)."""
    assert BEGIN in README.read_text() and END in README.read_text()
    assert README.read_text() == _readme_with_tables(), (
        "infra/README.md is stale: run `.venv-infra/bin/python tests/infra/test_terraform_conventions.py`"
    )


if __name__ == "__main__":
    README.write_text(_readme_with_tables())
    sys.stdout.write(f"wrote {README.relative_to(REPO)}\n")
