################################################################################
# EventBridge Scheduler: starts the task every day
################################################################################

resource "aws_scheduler_schedule_group" "this" {
  name = local.name
}

resource "aws_scheduler_schedule" "this" {
  # checkov:skip=CKV_AWS_297: The schedule holds no secret (cluster, task family, subnets); it is encrypted with an AWS owned key, and a customer-managed key would add USD 1/month and a key policy to maintain for no gain.
  name        = "${local.name}-daily"
  group_name  = aws_scheduler_schedule_group.this.name
  description = "Runs the dailyfetch job ${var.job_name}."
  state       = var.schedule_enabled ? "ENABLED" : "DISABLED"

  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone

  # Start at the stated time, not somewhere in a window.
  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_ecs_cluster.this.arn
    role_arn = aws_iam_role.scheduler.arn

    ecs_parameters {
      # Without a revision: every run starts the latest revision of the family.
      task_definition_arn = aws_ecs_task_definition.this.arn_without_revision
      task_count          = var.task_count
      launch_type         = var.use_fargate_spot ? null : "FARGATE"
      platform_version    = "LATEST"

      enable_ecs_managed_tags = true
      propagate_tags          = "TASK_DEFINITION"

      dynamic "capacity_provider_strategy" {
        for_each = var.use_fargate_spot ? ["FARGATE_SPOT"] : []
        content {
          capacity_provider = capacity_provider_strategy.value
          weight            = 1
        }
      }

      network_configuration {
        subnets         = data.aws_subnets.default.ids
        security_groups = [aws_security_group.task.id]
        # Required: the default subnets are public and have no NAT gateway, so
        # without a public IP the task cannot reach ECR to pull its image (nor
        # Secrets Manager, the API or the database) and fails to start with
        # "CannotPullContainerError". The security group has no ingress.
        assign_public_ip = true
      }
    }

    # A failed RunTask call (capacity, throttling, a bad role) is retried, then
    # dead-lettered; alerts.tf alarms on the queue.
    retry_policy {
      maximum_retry_attempts       = var.retry_max_attempts
      maximum_event_age_in_seconds = var.retry_max_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.scheduler_dlq.arn
    }
  }

  depends_on = [aws_ecs_cluster_capacity_providers.this]
}
