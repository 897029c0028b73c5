#!/usr/bin/env bash
# Build the job's image, push it to the stack's ECR repository, apply infra/.
#
#   make deploy                      # or: bash scripts/deploy.sh
#
# First deploy included: when the ECR repository does not exist yet, it is
# created on its own first (terraform apply -target), then the image is pushed,
# then everything else is applied. See docs/deploy.md.
#
# Environment:
#   CONFIG         the config file to ship in the image (default: dailyfetch.toml)
#   IMAGE_TAG      tag to push (default: the git commit, plus -dirty-<time> when
#                  the work tree has changes; tags are immutable in ECR)
#   AUTO_APPROVE=1 apply without asking (CI)
#   TF_BACKEND_S3=1  keep the state in S3 (CI): needs TF_STATE_BUCKET and AWS_REGION
#   INFRA_DIR      the Terraform root module (default: infra)
#   AWS_PROFILE / AWS_REGION and the usual AWS CLI settings
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'deploy: %s\n' "$*"; }
die() { printf 'deploy: error: %s\n' "$*" >&2; exit 1; }

for tool in terraform docker aws git; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH; see docs/deploy.md, 'Prerequisites'"
done

CONFIG=${CONFIG:-dailyfetch.toml}
[ -f "$CONFIG" ] || die "no $CONFIG here: write one (see README.md) or set CONFIG=path/to/config.toml"

if [ -z "${IMAGE_TAG:-}" ]; then
  IMAGE_TAG=$(git rev-parse --short=12 HEAD)
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    IMAGE_TAG="$IMAGE_TAG-dirty-$(date -u +%Y%m%dT%H%M%S)"
  fi
fi

INFRA=${INFRA_DIR:-infra}
tf() { terraform -chdir="$INFRA" "$@"; }

# 1. The schedule, from the config (one source of truth).
if command -v dailyfetch >/dev/null 2>&1; then
  dailyfetch tfvars -c "$CONFIG" -o "$INFRA/dailyfetch.auto.tfvars.json"
else
  say "dailyfetch is not installed here; keeping $INFRA/dailyfetch.auto.tfvars.json as it is (pip install . to refresh it)"
fi

# 2. The image tag the stack runs, kept for later plain `terraform apply`s.
printf '{\n  "image_tag": "%s"\n}\n' "$IMAGE_TAG" >"$INFRA/image.auto.tfvars.json"
say "image tag $IMAGE_TAG (written to $INFRA/image.auto.tfvars.json)"

# 3. terraform init, with the S3 backend in CI.
INIT_ARGS=(-input=false)
if [ "${TF_BACKEND_S3:-0}" = 1 ]; then
  [ -n "${TF_STATE_BUCKET:-}" ] && [ -n "${AWS_REGION:-}" ] || die "TF_BACKEND_S3=1 needs TF_STATE_BUCKET and AWS_REGION"
  printf 'terraform {\n  backend "s3" {}\n}\n' >"$INFRA/backend_override.tf"
  INIT_ARGS+=(-backend-config="bucket=$TF_STATE_BUCKET" -backend-config="key=dailyfetch/terraform.tfstate"
    -backend-config="region=$AWS_REGION" -backend-config="use_lockfile=true")
fi
tf init "${INIT_ARGS[@]}"

APPLY_ARGS=(-input=false)
[ "${AUTO_APPROVE:-0}" = 1 ] && APPLY_ARGS+=(-auto-approve)

# 4. First deploy: the repository must exist before the first push. No state yet means a
# first deploy; a state that cannot be read is an error, not a reason to start over.
if ! STATE=$(tf state list 2>&1); then
  case "$STATE" in
    *"No state file was found"*) STATE="" ;;
    *) die "cannot read the Terraform state in $INFRA: $(printf '%s' "$STATE" | grep -v '^[[:space:]]*$' | head -n 3 | tr '\n' ' ')" ;;
  esac
fi
if ! grep -qx 'aws_ecr_repository.this' <<<"$STATE"; then
  say "first deploy: creating the ECR repository on its own"
  tf apply "${APPLY_ARGS[@]}" -target=aws_ecr_repository.this -target=aws_ecr_lifecycle_policy.this
fi

REPO_URL=$(tf output -raw ecr_repository_url)
REPO_NAME=$(tf output -raw ecr_repository_name)
REGISTRY=${REPO_URL%%/*}
REGION=$(printf '%s' "$REGISTRY" | cut -d. -f4)
case "$(printf 'var.cpu_architecture\n' | tf console 2>/dev/null | tr -d '"')" in
  ARM64) PLATFORM=linux/arm64 ;;
  *) PLATFORM=linux/amd64 ;;
esac

# 5. Build and push, unless this tag is already there (tags are immutable).
if aws ecr describe-images --region "$REGION" --repository-name "$REPO_NAME" \
  --image-ids imageTag="$IMAGE_TAG" >/dev/null 2>&1; then
  say "$REPO_URL:$IMAGE_TAG is already in ECR; not rebuilding"
else
  aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"
  docker build --platform "$PLATFORM" --build-arg CONFIG="$CONFIG" -t "$REPO_URL:$IMAGE_TAG" .
  docker push "$REPO_URL:$IMAGE_TAG"
fi

# 6. Everything else; the schedule's next run uses the new task revision.
tf apply "${APPLY_ARGS[@]}"

# 7. Remind about secrets that still have no value.
tf output -json secret_arns | python3 -c 'import json,sys; [print(k, v) for k, v in json.load(sys.stdin).items()]' |
  while read -r name arn; do
    stages=$(aws secretsmanager describe-secret --region "$REGION" --secret-id "$arn" \
      --query 'VersionIdsToStages' --output text 2>/dev/null || echo None)
    if [ -z "$stages" ] || [ "$stages" = None ]; then
      say "secret $name has no value yet: aws secretsmanager put-secret-value --secret-id '$arn' --secret-string '...'"
    fi
  done

say "done. Run it once now with: $(tf output -raw run_task_command)"
