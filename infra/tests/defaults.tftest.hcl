# Plan-level tests of the configuration with the inputs of
# terraform.tfvars.example, against a mock AWS provider (no network, no account).
# Run: terraform test (from infra/, after terraform init).

mock_provider "aws" {
  # Computed attributes get values at plan time, so that ARNs and JSON documents
  # built from them can be asserted.
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_vpc" {
    defaults = { id = "vpc-0default" }
  }
  mock_data "aws_subnets" {
    defaults = { ids = ["subnet-0a", "subnet-0c"] }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:ap-northeast-1:123456789012:cluster/dailyfetch" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn                  = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/dailyfetch:7"
      arn_without_revision = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/dailyfetch"
    }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:ap-northeast-1:123456789012:dailyfetch-scheduler-dlq" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:ap-northeast-1:123456789012:dailyfetch-alerts" }
  }
  mock_resource "aws_security_group" {
    defaults = { id = "sg-0task" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { repository_url = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/dailyfetch" }
  }
}

override_resource {
  target          = aws_iam_role.ecs_task_execution
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/dailyfetch-ecs-task-execution" }
}

override_resource {
  target          = aws_iam_role.ecs_task
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/dailyfetch-ecs-task" }
}

override_resource {
  target          = aws_iam_role.scheduler
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/dailyfetch-scheduler" }
}

override_resource {
  target          = aws_secretsmanager_secret.this["DATABASE_URL"]
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:dailyfetch/DATABASE_URL-AbCdEf" }
}

override_resource {
  target          = aws_secretsmanager_secret.this["API_TOKEN"]
  override_during = plan
  values          = { arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:dailyfetch/API_TOKEN-GhIjKl" }
}

# The inputs of terraform.tfvars.example, all of them, so that a local
# terraform.tfvars or *.auto.tfvars cannot change what is tested.
variables {
  aws_region                  = "ap-northeast-1"
  job_name                    = "dailyfetch"
  tags                        = { Owner = "me" }
  schedule_expression         = "cron(30 2 * * ? *)"
  schedule_timezone           = "Asia/Tokyo"
  schedule_enabled            = true
  retry_max_attempts          = 3
  retry_max_event_age_seconds = 3600
  image_tag                   = "v1"
  cpu                         = 256
  memory                      = 512
  cpu_architecture            = "X86_64"
  task_count                  = 1
  use_fargate_spot            = false
  stop_timeout_seconds        = 30
  environment                 = { LOG_LEVEL = "info" }
  container_insights          = false
  api_secret_names            = ["API_TOKEN"]
  existing_secret_arns        = {}
  secrets_kms_key_arns        = []
  secret_recovery_window_days = 7
  ecr_keep_images             = 10
  ecr_force_delete            = false
  log_retention_days          = 30
  alert_email                 = "you@example.com"
  missed_run_window_hours     = 26
  egress_tcp_ports            = [443, 5432]
}

################################################################################
# Schedule
################################################################################

run "schedule_runs_latest_task_revision_daily_in_tokyo_time" {
  command = plan

  assert {
    condition     = aws_scheduler_schedule.this.schedule_expression == "cron(30 2 * * ? *)"
    error_message = "The schedule must use var.schedule_expression."
  }
  assert {
    condition     = aws_scheduler_schedule.this.schedule_expression_timezone == "Asia/Tokyo"
    error_message = "The schedule must be read in var.schedule_timezone (Asia/Tokyo)."
  }
  assert {
    condition     = aws_scheduler_schedule.this.flexible_time_window[0].mode == "OFF"
    error_message = "The flexible time window must be off."
  }
  assert {
    condition     = aws_scheduler_schedule.this.state == "ENABLED"
    error_message = "The schedule must be enabled by default."
  }
  assert {
    condition     = aws_scheduler_schedule.this.target[0].arn == "arn:aws:ecs:ap-northeast-1:123456789012:cluster/dailyfetch"
    error_message = "The schedule must target the cluster."
  }
  assert {
    condition     = aws_scheduler_schedule.this.target[0].ecs_parameters[0].task_definition_arn == "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/dailyfetch"
    error_message = "The schedule must name the task family without a revision (arn_without_revision)."
  }
  assert {
    condition     = aws_scheduler_schedule.this.target[0].ecs_parameters[0].task_count == 1
    error_message = "One task per run by default."
  }
  assert {
    condition     = aws_scheduler_schedule.this.target[0].ecs_parameters[0].launch_type == "FARGATE" && length(aws_scheduler_schedule.this.target[0].ecs_parameters[0].capacity_provider_strategy) == 0
    error_message = "Without use_fargate_spot the task must launch on FARGATE."
  }
  assert {
    condition     = aws_scheduler_schedule.this.target[0].role_arn == "arn:aws:iam::123456789012:role/dailyfetch-scheduler"
    error_message = "The schedule must use the scheduler role."
  }
}

run "schedule_network_is_public_subnets_with_public_ip_and_no_ingress" {
  command = plan

  assert {
    condition     = aws_scheduler_schedule.this.target[0].ecs_parameters[0].network_configuration[0].assign_public_ip == true
    error_message = "assign_public_ip must be true, or the task cannot pull from ECR in a public subnet."
  }
  assert {
    condition     = toset(aws_scheduler_schedule.this.target[0].ecs_parameters[0].network_configuration[0].subnets) == toset(["subnet-0a", "subnet-0c"])
    error_message = "The task must run in the default VPC's subnets."
  }
  assert {
    condition     = toset(aws_scheduler_schedule.this.target[0].ecs_parameters[0].network_configuration[0].security_groups) == toset(["sg-0task"])
    error_message = "The task must use its own security group."
  }
  assert {
    condition     = aws_security_group.task.vpc_id == "vpc-0default"
    error_message = "The security group must be in the default VPC."
  }
  assert {
    condition     = length(aws_security_group.task.ingress) == 0
    error_message = "The task's security group must have no ingress."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_egress_rule.task : "${r.ip_protocol}/${r.from_port}-${r.to_port}"]) == toset(["tcp/443-443", "tcp/5432-5432"])
    error_message = "Egress must be TCP 443 and 5432 only."
  }
}

run "scheduler_retries_then_dead_letters_to_an_encrypted_queue" {
  command = plan

  assert {
    condition     = aws_scheduler_schedule.this.target[0].retry_policy[0].maximum_retry_attempts == 3
    error_message = "The schedule must retry a failed start 3 times."
  }
  assert {
    condition     = aws_scheduler_schedule.this.target[0].retry_policy[0].maximum_event_age_in_seconds == 3600
    error_message = "The schedule must give up after an hour."
  }
  assert {
    condition     = aws_scheduler_schedule.this.target[0].dead_letter_config[0].arn == "arn:aws:sqs:ap-northeast-1:123456789012:dailyfetch-scheduler-dlq"
    error_message = "Failed starts must go to the dead-letter queue."
  }
  assert {
    condition     = aws_sqs_queue.scheduler_dlq.sqs_managed_sse_enabled == true
    error_message = "The dead-letter queue must be encrypted."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.scheduler_dlq.namespace == "AWS/SQS" && aws_cloudwatch_metric_alarm.scheduler_dlq.metric_name == "ApproximateNumberOfMessagesVisible" && aws_cloudwatch_metric_alarm.scheduler_dlq.threshold == 0 && aws_cloudwatch_metric_alarm.scheduler_dlq.comparison_operator == "GreaterThanThreshold"
    error_message = "An alarm must fire when the dead-letter queue holds a message."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.scheduler_dlq.dimensions.QueueName == "dailyfetch-scheduler-dlq"
    error_message = "The queue-depth alarm must watch the dead-letter queue."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.scheduler_dlq.alarm_actions == toset(["arn:aws:sns:ap-northeast-1:123456789012:dailyfetch-alerts"])
    error_message = "The queue-depth alarm must notify the alerts topic."
  }
}

################################################################################
# Least privilege
################################################################################

run "scheduler_role_may_only_run_this_task_pass_its_roles_tag_its_tasks_and_dead_letter" {
  command = plan

  assert {
    condition     = length(jsondecode(aws_iam_role_policy.scheduler.policy).Statement) == 4
    error_message = "The scheduler policy must have exactly four statements."
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.scheduler.policy).Statement : s if s.Sid == "RunThisTaskFamilyOnThisCluster"][0] == {
      Sid       = "RunThisTaskFamilyOnThisCluster"
      Effect    = "Allow"
      Action    = "ecs:RunTask"
      Resource  = ["arn:aws:ecs:ap-northeast-1:123456789012:task-definition/dailyfetch", "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/dailyfetch:*"]
      Condition = { ArnEquals = { "ecs:cluster" = "arn:aws:ecs:ap-northeast-1:123456789012:cluster/dailyfetch" } }
    }
    error_message = "ecs:RunTask must be limited to this family (any revision) on this cluster."
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.scheduler.policy).Statement : s if s.Sid == "PassOnlyTheTaskRoles"][0] == {
      Sid       = "PassOnlyTheTaskRoles"
      Effect    = "Allow"
      Action    = "iam:PassRole"
      Resource  = ["arn:aws:iam::123456789012:role/dailyfetch-ecs-task-execution", "arn:aws:iam::123456789012:role/dailyfetch-ecs-task"]
      Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
    }
    error_message = "iam:PassRole must be limited to the execution and task roles, passed to ECS tasks."
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.scheduler.policy).Statement : s if s.Sid == "TagTheTasksItStarts"][0] == {
      Sid       = "TagTheTasksItStarts"
      Effect    = "Allow"
      Action    = "ecs:TagResource"
      Resource  = "arn:aws:ecs:ap-northeast-1:123456789012:task/dailyfetch/*"
      Condition = { StringEquals = { "ecs:CreateAction" = "RunTask" } }
    }
    error_message = "ecs:TagResource must be limited to this cluster's tasks, at RunTask."
  }
  assert {
    condition = [for s in jsondecode(aws_iam_role_policy.scheduler.policy).Statement : s if s.Sid == "DeadLetterFailedStarts"][0] == {
      Sid      = "DeadLetterFailedStarts"
      Effect   = "Allow"
      Action   = "sqs:SendMessage"
      Resource = "arn:aws:sqs:ap-northeast-1:123456789012:dailyfetch-scheduler-dlq"
    }
    error_message = "The scheduler may only send to its dead-letter queue."
  }
  assert {
    condition     = aws_scheduler_schedule.this.target[0].ecs_parameters[0].propagate_tags == "TASK_DEFINITION"
    error_message = "Tags are propagated, which is what ecs:TagResource is for."
  }
}

run "no_policy_grants_anything_on_a_wildcard" {
  command = plan

  assert {
    condition = alltrue([for p in [
      aws_iam_role_policy.scheduler.policy,
      aws_iam_role_policy.ecs_task_execution_secrets.policy,
      aws_iam_role.scheduler.assume_role_policy,
      aws_iam_role.ecs_task_execution.assume_role_policy,
      aws_iam_role.ecs_task.assume_role_policy,
      aws_sns_topic_policy.alerts.policy,
    ] : !strcontains(p, "\"*\"")])
    error_message = "No policy may name \"*\" as a resource, action or principal."
  }
}

run "trust_policies_guard_against_the_confused_deputy" {
  command = plan

  assert {
    condition = alltrue([for p in [
      aws_iam_role.scheduler.assume_role_policy,
      aws_iam_role.ecs_task_execution.assume_role_policy,
      aws_iam_role.ecs_task.assume_role_policy,
    ] : jsondecode(p).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"])
    error_message = "Every trust policy must require aws:SourceAccount = this account."
  }
  assert {
    condition     = jsondecode(aws_iam_role.scheduler.assume_role_policy).Statement[0].Principal.Service == "scheduler.amazonaws.com"
    error_message = "Only EventBridge Scheduler may assume the scheduler role."
  }
  assert {
    condition     = jsondecode(aws_iam_role.scheduler.assume_role_policy).Statement[0].Condition.ArnEquals["aws:SourceArn"] == "arn:aws:scheduler:ap-northeast-1:123456789012:schedule-group/dailyfetch"
    error_message = "Only schedules of this job's schedule group may use the scheduler role."
  }
  assert {
    condition     = aws_scheduler_schedule.this.group_name == aws_scheduler_schedule_group.this.name && aws_scheduler_schedule_group.this.name == "dailyfetch"
    error_message = "The schedule must be in the group the trust policy names."
  }
}

run "execution_role_has_the_managed_policy_and_reads_exactly_its_secrets" {
  command = plan

  assert {
    condition     = aws_iam_role_policy_attachment.ecs_task_execution.policy_arn == "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    error_message = "The execution role must have AmazonECSTaskExecutionRolePolicy."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.ecs_task_execution_secrets.policy).Statement == [{
      Sid    = "ReadThisJobsSecrets"
      Effect = "Allow"
      Action = "secretsmanager:GetSecretValue"
      Resource = [
        "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:dailyfetch/API_TOKEN-GhIjKl",
        "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:dailyfetch/DATABASE_URL-AbCdEf",
      ]
    }]
    error_message = "The execution role may read exactly the job's secrets."
  }
  assert {
    condition     = aws_iam_role_policy.ecs_task_execution_secrets.role == "dailyfetch-ecs-task-execution"
    error_message = "The secrets policy belongs to the execution role, not to the task role."
  }
}

################################################################################
# Task and secrets
################################################################################

run "task_runs_dailyfetch_with_secrets_from_secrets_manager" {
  command = plan

  assert {
    condition     = aws_ecs_task_definition.this.cpu == "256" && aws_ecs_task_definition.this.memory == "512"
    error_message = "Defaults: 256 CPU units and 512 MiB."
  }
  assert {
    condition     = aws_ecs_task_definition.this.requires_compatibilities == toset(["FARGATE"]) && aws_ecs_task_definition.this.network_mode == "awsvpc"
    error_message = "The task must be a Fargate task in awsvpc mode."
  }
  assert {
    condition     = aws_ecs_task_definition.this.execution_role_arn != aws_ecs_task_definition.this.task_role_arn
    error_message = "The execution role and the task role must differ."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].command == ["run"]
    error_message = "The container must run `dailyfetch run`."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].image == "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/dailyfetch:v1"
    error_message = "The image must come from the stack's ECR repository, tagged image_tag."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout == 30
    error_message = "stopTimeout must give the graceful shutdown 30 s."
  }
  assert {
    condition = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets == [
      { name = "API_TOKEN", valueFrom = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:dailyfetch/API_TOKEN-GhIjKl" },
      { name = "DATABASE_URL", valueFrom = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:dailyfetch/DATABASE_URL-AbCdEf" },
    ]
    error_message = "DATABASE_URL and API_TOKEN must come from their secrets via valueFrom."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment == [{ name = "LOG_LEVEL", value = "info" }]
    error_message = "Only the plain environment variables are in environment."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].logConfiguration.logDriver == "awslogs" && jsondecode(aws_ecs_task_definition.this.container_definitions)[0].logConfiguration.options["awslogs-group"] == aws_cloudwatch_log_group.task.name
    error_message = "Logs must go to the log group through the awslogs driver."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].readonlyRootFilesystem == true
    error_message = "The root filesystem must be read-only (with /tmp as a volume)."
  }
  assert {
    condition     = aws_cloudwatch_log_group.task.retention_in_days == 30
    error_message = "Logs are kept 30 days by default."
  }
}

run "secrets_are_created_without_values" {
  command = plan

  assert {
    condition     = toset(keys(aws_secretsmanager_secret.this)) == toset(["DATABASE_URL", "API_TOKEN"])
    error_message = "A secret for DATABASE_URL and one per api_secret_names."
  }
  assert {
    condition     = aws_secretsmanager_secret.this["DATABASE_URL"].name == "dailyfetch/DATABASE_URL"
    error_message = "Secrets are named <job>/<ENV NAME>."
  }
  assert {
    condition     = output.secret_arns == { API_TOKEN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:dailyfetch/API_TOKEN-GhIjKl", DATABASE_URL = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:dailyfetch/DATABASE_URL-AbCdEf" }
    error_message = "The secret_arns output holds ARNs only."
  }
}

run "ecr_has_immutable_tags_scan_on_push_and_keeps_the_last_images" {
  command = plan

  assert {
    condition     = aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE"
    error_message = "Image tags must be immutable."
  }
  assert {
    condition     = aws_ecr_repository.this.image_scanning_configuration[0].scan_on_push == true
    error_message = "Images must be scanned on push."
  }
  assert {
    condition     = jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[0].selection == { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 10 }
    error_message = "The lifecycle policy must keep the newest 10 images."
  }
}

################################################################################
# Alerts
################################################################################

run "missed_run_alarm_treats_missing_data_as_breaching" {
  command = plan

  assert {
    condition     = aws_cloudwatch_metric_alarm.missed_run.treat_missing_data == "breaching"
    error_message = "A day without data must alarm."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.missed_run.namespace == "dailyfetch" && aws_cloudwatch_metric_alarm.missed_run.metric_name == "RunSucceeded" && aws_cloudwatch_metric_alarm.missed_run.dimensions == tomap({ job = "dailyfetch" })
    error_message = "The alarm must watch the job's RunSucceeded EMF metric (namespace dailyfetch, dimension job)."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.missed_run.statistic == "Sum" && aws_cloudwatch_metric_alarm.missed_run.comparison_operator == "LessThanThreshold" && aws_cloudwatch_metric_alarm.missed_run.threshold == 1
    error_message = "The alarm fires when fewer than one success was counted."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.missed_run.period == 3600 && aws_cloudwatch_metric_alarm.missed_run.evaluation_periods == 26 && aws_cloudwatch_metric_alarm.missed_run.datapoints_to_alarm == 26
    error_message = "The window is 26 hourly periods, all of which must lack a success."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.missed_run.period * aws_cloudwatch_metric_alarm.missed_run.evaluation_periods <= 7 * 86400
    error_message = "CloudWatch evaluates at most 7 days."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.missed_run.alarm_actions == toset(["arn:aws:sns:ap-northeast-1:123456789012:dailyfetch-alerts"])
    error_message = "The missed-run alarm must notify the alerts topic."
  }
}

run "task_failure_rule_matches_stopped_tasks_with_nonzero_exit_or_failed_start" {
  command = plan

  assert {
    condition = jsondecode(aws_cloudwatch_event_rule.task_failed.event_pattern) == {
      source      = ["aws.ecs"]
      detail-type = ["ECS Task State Change"]
      detail = {
        clusterArn        = ["arn:aws:ecs:ap-northeast-1:123456789012:cluster/dailyfetch"]
        taskDefinitionArn = [{ prefix = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/dailyfetch:" }]
        lastStatus        = ["STOPPED"]
        "$or" = [
          { containers = { exitCode = [{ anything-but = 0 }] } },
          { stopCode = ["TaskFailedToStart"] },
        ]
      }
    }
    error_message = "The rule must match STOPPED tasks of this family and cluster with a non-zero exit code or stopCode TaskFailedToStart."
  }
  assert {
    condition     = aws_cloudwatch_event_target.task_failed_email.arn == "arn:aws:sns:ap-northeast-1:123456789012:dailyfetch-alerts"
    error_message = "The rule must send to the alerts topic."
  }
  assert {
    condition = alltrue([for p in ["<exitCode>", "<stoppedReason>", "<task>", "dailyfetch job dailyfetch failed", "https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1#logsV2:log-groups/log-group/$252Fecs$252Fdailyfetch"] :
    strcontains(aws_cloudwatch_event_target.task_failed_email.input_transformer[0].input_template, p)])
    error_message = "The email must be a sentence naming the job, exit code, stop reason and a link to the logs."
  }
  assert {
    condition     = startswith(aws_cloudwatch_event_target.task_failed_email.input_transformer[0].input_template, "\"") && endswith(aws_cloudwatch_event_target.task_failed_email.input_transformer[0].input_template, "\"")
    error_message = "An SNS input template must be a quoted string."
  }
}

run "only_eventbridge_and_cloudwatch_may_publish_to_the_topic" {
  command = plan

  assert {
    condition = toset(flatten([
      for s in jsondecode(aws_sns_topic_policy.alerts.policy).Statement : [s.Principal.Service]
      if contains(flatten([s.Action]), "sns:Publish")
    ])) == toset(["events.amazonaws.com", "cloudwatch.amazonaws.com"])
    error_message = "sns:Publish must be granted to EventBridge and CloudWatch only."
  }
  assert {
    condition = alltrue([
      for s in jsondecode(aws_sns_topic_policy.alerts.policy).Statement : s.Condition.StringEquals["aws:SourceAccount"] == "123456789012"
      if contains(flatten([s.Action]), "sns:Publish")
    ])
    error_message = "Publishing services must act for this account."
  }
  assert {
    condition     = aws_sns_topic_subscription.email.protocol == "email" && aws_sns_topic_subscription.email.endpoint == "you@example.com"
    error_message = "The topic must email alert_email."
  }
}
