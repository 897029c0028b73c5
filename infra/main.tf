################################################################################
# Provider
################################################################################

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(var.tags, {
      Application = "dailyfetch"
      Job         = var.job_name
      ManagedBy   = "terraform"
    })
  }
}

################################################################################
# Global settings
################################################################################

locals {
  # Resource names from the job name: lower case, '.' and runs of separators
  # made a single '-', no separator at either end, at most 32 characters, so
  # that ECR, ECS, SQS, IAM and the scheduler all accept them.
  name = trim(substr(trim(replace(replace(lower(var.job_name), ".", "-"), "/[-_]{2,}/", "-"), "-_"), 0, 32), "-_")

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.aws_region

  container_name = "dailyfetch"

  # The metric the job emits as CloudWatch Embedded Metric Format at the end of
  # every run (see the package's metrics module). One place, referenced by the
  # missed-run alarm in alerts.tf and by the docs.
  metric_namespace     = "dailyfetch"
  metric_dimension     = "job"
  metric_run_succeeded = "RunSucceeded"

  # ARNs built from names, so that policies do not depend on the resources they
  # protect (no cycles) and plans show them in full.
  cluster_arn           = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:cluster/${local.name}"
  task_family_arn       = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${local.name}"
  schedule_group_arn    = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule-group/${local.name}"
  failure_rule_arn      = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.name}-task-failed"
  alarm_arn_prefix      = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.name}-"
  log_group_name        = "/ecs/${local.name}"
  log_stream_prefix     = "ecs"
  log_group_console_url = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#logsV2:log-groups/log-group/${replace(local.log_group_name, "/", "$252F")}"
}
