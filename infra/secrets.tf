################################################################################
# Secrets Manager: DATABASE_URL and the API tokens, values put by hand
################################################################################

# Terraform creates the secrets but never their values: put them with
# `aws secretsmanager put-secret-value` (docs/deploy.md), so no secret is ever
# in a variable, an output or the state.
resource "aws_secretsmanager_secret" "this" {
  # checkov:skip=CKV2_AWS_57: The values are credentials issued by outside services (Neon, the API provider); Secrets Manager rotation would need a Lambda that can mint them there. Rotate by issuing a new credential and putting it (docs/deploy.md).
  # checkov:skip=CKV_AWS_149: Encrypted with the AWS managed key aws/secretsmanager; a customer-managed key adds USD 1/month and kms:Decrypt grants for no gain in a single-account, single-reader setup. Secrets under your own key can be given with existing_secret_arns and secrets_kms_key_arns.
  for_each = setsubtract(local.secret_names, keys(var.existing_secret_arns))

  name                    = "${local.name}/${each.key}"
  description             = "${each.key} for the dailyfetch job ${var.job_name}, injected into its container as the environment variable ${each.key}."
  recovery_window_in_days = var.secret_recovery_window_days
}

locals {
  secret_names = setunion(["DATABASE_URL"], var.api_secret_names)

  # Environment variable name => secret ARN, created or given.
  secret_arns = merge(
    { for name, s in aws_secretsmanager_secret.this : name => s.arn },
    var.existing_secret_arns,
  )
}
