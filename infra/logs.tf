################################################################################
# CloudWatch log group: the task's stdout, including its EMF metric lines
################################################################################

resource "aws_cloudwatch_log_group" "task" {
  # checkov:skip=CKV_AWS_158: Logs are encrypted at rest by CloudWatch Logs by default; the job redacts secrets before logging, so a customer-managed KMS key (USD 1/month plus per-call fees) adds cost without protecting anything further.
  # checkov:skip=CKV_AWS_338: Retention is the user's choice (log_retention_days, default 30 days) for a personal daily job; a year of logs costs storage and serves no audit requirement here.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
}
