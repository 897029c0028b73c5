################################################################################
# SNS topic: every alert ends here and is emailed
################################################################################

resource "aws_sns_topic" "alerts" {
  # checkov:skip=CKV_AWS_26: The topic carries only alert text (job name, exit code, stop reason, a console link), no secret. The AWS managed key aws/sns cannot be used, because CloudWatch and EventBridge cannot publish to a topic encrypted with it, and a customer-managed key adds USD 1/month and a key policy for no gain.
  name         = "${local.name}-alerts"
  display_name = "dailyfetch ${var.job_name}"
}

resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountManagesTheTopic"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action = [
          "sns:GetTopicAttributes",
          "sns:SetTopicAttributes",
          "sns:AddPermission",
          "sns:RemovePermission",
          "sns:DeleteTopic",
          "sns:Subscribe",
          "sns:ListSubscriptionsByTopic",
        ]
        Resource = aws_sns_topic.alerts.arn
      },
      {
        Sid       = "EventBridgeRuleOfThisJobPublishes"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alerts.arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnEquals    = { "aws:SourceArn" = local.failure_rule_arn }
        }
      },
      {
        Sid       = "CloudWatchAlarmsOfThisJobPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alerts.arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "${local.alarm_arn_prefix}*" }
        }
      },
    ]
  })
}

resource "aws_sns_topic_subscription" "email" {
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

################################################################################
# Scheduler failures: dead-letter queue and its alarm
################################################################################

resource "aws_sqs_queue" "scheduler_dlq" {
  name                      = "${local.name}-scheduler-dlq"
  message_retention_seconds = 1209600 # 14 days, the maximum: time to read why.
  sqs_managed_sse_enabled   = true
}

resource "aws_cloudwatch_metric_alarm" "scheduler_dlq" {
  alarm_name        = "${local.name}-scheduler-failed"
  alarm_description = "EventBridge Scheduler could not start the ${var.job_name} task, even after retries; the failed event is in the SQS queue ${aws_sqs_queue.scheduler_dlq.name} (see docs/deploy.md, 'Alerts')."

  namespace   = "AWS/SQS"
  metric_name = "ApproximateNumberOfMessagesVisible"
  dimensions  = { QueueName = aws_sqs_queue.scheduler_dlq.name }
  statistic   = "Maximum"
  period      = 300

  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = [aws_sns_topic.alerts.arn]
  ok_actions    = [aws_sns_topic.alerts.arn]
}

################################################################################
# Task failures: a STOPPED task with a non-zero exit code, or one that never started
################################################################################

resource "aws_cloudwatch_event_rule" "task_failed" {
  name        = "${local.name}-task-failed"
  description = "A ${var.job_name} task stopped with a non-zero exit code or failed to start."

  event_pattern = jsonencode({
    source      = ["aws.ecs"]
    detail-type = ["ECS Task State Change"]
    detail = {
      clusterArn        = [local.cluster_arn]
      taskDefinitionArn = [{ prefix = "${local.task_family_arn}:" }]
      lastStatus        = ["STOPPED"]
      "$or" = [
        { containers = { exitCode = [{ anything-but = 0 }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "task_failed_email" {
  rule      = aws_cloudwatch_event_rule.task_failed.name
  target_id = "email"
  arn       = aws_sns_topic.alerts.arn

  # A sentence, not the raw event.
  input_transformer {
    input_paths = {
      time          = "$.time"
      task          = "$.detail.taskArn"
      exitCode      = "$.detail.containers[0].exitCode"
      stopCode      = "$.detail.stopCode"
      stoppedReason = "$.detail.stoppedReason"
    }
    # A quoted JSON string (not jsonencode(), which would escape the <...>).
    input_template = "\"dailyfetch job ${var.job_name} failed at <time>: exit code <exitCode>, stop code <stopCode>, reason: <stoppedReason>. Task: <task>. Logs (the stream name ends with the task ID): ${local.log_group_console_url}\""
  }
}

################################################################################
# Missed runs: no RunSucceeded metric for a day (the dead man's switch)
################################################################################

resource "aws_cloudwatch_metric_alarm" "missed_run" {
  alarm_name        = "${local.name}-missed-run"
  alarm_description = "No successful run of the dailyfetch job ${var.job_name} was reported in the last ${var.missed_run_window_hours} hours: the job failed, or never started (see docs/deploy.md, 'Alerts')."

  # The job prints this metric as CloudWatch Embedded Metric Format at the end
  # of each successful run; the awslogs driver carries it to CloudWatch.
  namespace   = local.metric_namespace
  metric_name = local.metric_run_succeeded
  dimensions  = { (local.metric_dimension) = var.job_name }
  statistic   = "Sum"
  period      = 3600

  # Alarm only when every hourly period of the window lacks a success.
  evaluation_periods  = var.missed_run_window_hours
  datapoints_to_alarm = var.missed_run_window_hours
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  # No data at all is exactly what this alarm is for.
  treat_missing_data = "breaching"

  alarm_actions = [aws_sns_topic.alerts.arn]
  ok_actions    = [aws_sns_topic.alerts.arn]
}
