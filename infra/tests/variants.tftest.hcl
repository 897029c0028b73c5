# Plan-level tests of the optional features and of the input validations,
# against a mock AWS provider. Run: terraform test (from infra/).

mock_provider "aws" {
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_subnets" {
    defaults = { ids = ["subnet-0a"] }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { repository_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/dailyfetch" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:created-AbCdEf" }
  }
}

# Every input set, so that a local terraform.tfvars or *.auto.tfvars cannot
# change what is tested; each run overrides what it is about.
variables {
  aws_region                  = "us-east-1"
  job_name                    = "dailyfetch"
  tags                        = { Owner = "me" }
  schedule_expression         = "cron(30 2 * * ? *)"
  schedule_timezone           = "Asia/Tokyo"
  schedule_enabled            = true
  retry_max_attempts          = 3
  retry_max_event_age_seconds = 3600
  image_tag                   = "abc1234"
  cpu                         = 256
  memory                      = 512
  cpu_architecture            = "X86_64"
  task_count                  = 1
  use_fargate_spot            = false
  stop_timeout_seconds        = 30
  environment                 = {}
  container_insights          = false
  api_secret_names            = []
  existing_secret_arns        = {}
  secrets_kms_key_arns        = []
  secret_recovery_window_days = 7
  ecr_keep_images             = 10
  ecr_force_delete            = false
  log_retention_days          = 30
  alert_email                 = "ops@example.com"
  missed_run_window_hours     = 26
  egress_tcp_ports            = [443, 5432]
}

################################################################################
# Options
################################################################################

run "fargate_spot_uses_a_capacity_provider_strategy_instead_of_a_launch_type" {
  command = plan

  variables {
    use_fargate_spot = true
  }

  assert {
    condition     = aws_scheduler_schedule.this.target[0].ecs_parameters[0].launch_type == null
    error_message = "With a capacity provider strategy the launch type must be unset."
  }
  assert {
    condition     = [for s in aws_scheduler_schedule.this.target[0].ecs_parameters[0].capacity_provider_strategy : s.capacity_provider] == ["FARGATE_SPOT"]
    error_message = "use_fargate_spot must run the task on FARGATE_SPOT."
  }
  assert {
    condition     = aws_ecs_cluster_capacity_providers.this.capacity_providers == toset(["FARGATE", "FARGATE_SPOT"])
    error_message = "The cluster must offer FARGATE_SPOT."
  }
}

run "task_count_starts_several_tasks_per_run" {
  command = plan

  variables {
    task_count = 10
  }

  assert {
    condition     = aws_scheduler_schedule.this.target[0].ecs_parameters[0].task_count == 10
    error_message = "task_count must reach the schedule."
  }
}

run "existing_secret_arns_are_used_instead_of_created_and_are_the_only_readable_ones" {
  command = plan

  variables {
    api_secret_names     = ["API_TOKEN", "OTHER_TOKEN"]
    existing_secret_arns = { DATABASE_URL = "arn:aws:secretsmanager:us-east-1:123456789012:secret:neon/prod-XyZ123" }
  }

  assert {
    condition     = toset(keys(aws_secretsmanager_secret.this)) == toset(["API_TOKEN", "OTHER_TOKEN"])
    error_message = "A secret given in existing_secret_arns must not be created."
  }
  assert {
    condition     = contains([for s in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets : s.valueFrom if s.name == "DATABASE_URL"], "arn:aws:secretsmanager:us-east-1:123456789012:secret:neon/prod-XyZ123")
    error_message = "DATABASE_URL must come from the given secret."
  }
  assert {
    condition     = contains(jsondecode(aws_iam_role_policy.ecs_task_execution_secrets.policy).Statement[0].Resource, "arn:aws:secretsmanager:us-east-1:123456789012:secret:neon/prod-XyZ123")
    error_message = "The execution role must be able to read the given secret."
  }
  assert {
    condition     = length(jsondecode(aws_iam_role_policy.ecs_task_execution_secrets.policy).Statement[0].Resource) == 3
    error_message = "The execution role reads exactly the three secrets."
  }
  assert {
    condition     = length(aws_iam_role_policy.ecs_task_execution_kms) == 0
    error_message = "Without secrets_kms_key_arns the execution role gets no KMS permission."
  }
}

run "secrets_kms_key_arns_allow_decrypt_through_secrets_manager_only" {
  command = plan

  variables {
    existing_secret_arns = { DATABASE_URL = "arn:aws:secretsmanager:us-east-1:123456789012:secret:neon/prod-XyZ123" }
    secrets_kms_key_arns = ["arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.ecs_task_execution_kms[0].policy).Statement[0] == {
      Sid       = "DecryptThoseSecretsThroughSecretsManager"
      Effect    = "Allow"
      Action    = "kms:Decrypt"
      Resource  = ["arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
      Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.us-east-1.amazonaws.com" } }
    }
    error_message = "kms:Decrypt must be limited to the given keys, used by Secrets Manager."
  }
  assert {
    condition     = aws_iam_role_policy.ecs_task_execution_kms[0].role == "dailyfetch-ecs-task-execution"
    error_message = "The KMS permission belongs to the execution role."
  }
}

run "schedule_can_be_paused_and_other_sizes_and_windows_apply" {
  command = plan

  variables {
    schedule_enabled        = false
    schedule_expression     = "cron(0 6 ? * MON-FRI *)"
    schedule_timezone       = "America/Argentina/Buenos_Aires"
    cpu                     = 1024
    memory                  = 8192
    cpu_architecture        = "ARM64"
    missed_run_window_hours = 168
    job_name                = "Weather_Daily"
  }

  assert {
    condition     = aws_scheduler_schedule.this.state == "DISABLED"
    error_message = "schedule_enabled = false must disable the schedule."
  }
  assert {
    condition     = aws_ecs_task_definition.this.cpu == "1024" && aws_ecs_task_definition.this.memory == "8192" && aws_ecs_task_definition.this.runtime_platform[0].cpu_architecture == "ARM64"
    error_message = "cpu, memory and cpu_architecture must reach the task definition."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.missed_run.evaluation_periods == 168
    error_message = "The missed-run window must be configurable."
  }
  assert {
    condition     = aws_ecr_repository.this.name == "weather_daily" && aws_cloudwatch_metric_alarm.missed_run.dimensions["job"] == "Weather_Daily"
    error_message = "Resource names are lower-cased; the metric dimension keeps the job name as the job reports it."
  }
}

################################################################################
# Validations
################################################################################

run "job_names_the_config_allows_become_valid_resource_names" {
  command = plan

  variables {
    job_name = "_Weather.Daily__from-the-national-weather-service-v2"
  }

  assert {
    condition     = aws_ecs_cluster.this.name == "weather-daily-from-the-national"
    error_message = "Resource names must be lower case, without dots or doubled separators, at most 32 characters."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.missed_run.dimensions["job"] == "_Weather.Daily__from-the-national-weather-service-v2"
    error_message = "The metric dimension must be the job name exactly as the job reports it."
  }
}

run "rejects_a_job_name_the_config_would_reject" {
  command = plan
  variables {
    job_name = "weather daily"
  }
  expect_failures = [var.job_name]
}

run "rejects_a_memory_size_fargate_does_not_offer_for_the_cpu" {
  command = plan
  variables {
    cpu    = 256
    memory = 4096
  }
  expect_failures = [var.memory]
}

run "rejects_an_unknown_cpu" {
  command = plan
  variables {
    cpu = 300
  }
  expect_failures = [var.cpu]
}

run "rejects_a_five_field_cron" {
  command = plan
  variables {
    schedule_expression = "cron(30 2 * * *)"
  }
  expect_failures = [var.schedule_expression]
}

run "rejects_a_cron_without_a_question_mark" {
  command = plan
  variables {
    schedule_expression = "cron(30 2 * * * *)"
  }
  expect_failures = [var.schedule_expression]
}

run "rejects_a_malformed_rate" {
  command = plan
  variables {
    schedule_expression = "rate(0 days)"
  }
  expect_failures = [var.schedule_expression]
}

run "rejects_a_plural_unit_for_one" {
  command = plan
  variables {
    schedule_expression = "rate(1 days)"
  }
  expect_failures = [var.schedule_expression]
}

run "accepts_rate_expressions" {
  command = plan
  variables {
    schedule_expression = "rate(12 hours)"
  }
  assert {
    condition     = aws_scheduler_schedule.this.schedule_expression == "rate(12 hours)"
    error_message = "rate() expressions must be accepted."
  }
}

run "rejects_a_time_zone_that_is_not_an_iana_name" {
  command = plan
  variables {
    schedule_timezone = "JST+9"
  }
  expect_failures = [var.schedule_timezone]
}

run "rejects_zero_tasks" {
  command = plan
  variables {
    task_count = 0
  }
  expect_failures = [var.task_count]
}

run "rejects_more_than_ten_tasks" {
  command = plan
  variables {
    task_count = 11
  }
  expect_failures = [var.task_count]
}

run "rejects_an_email_without_a_domain" {
  command = plan
  variables {
    alert_email = "ops@localhost"
  }
  expect_failures = [var.alert_email]
}

run "rejects_a_missed_run_window_beyond_seven_days" {
  command = plan
  variables {
    missed_run_window_hours = 169
  }
  expect_failures = [var.missed_run_window_hours]
}

run "rejects_database_url_as_a_plain_environment_variable" {
  command = plan
  variables {
    environment = { DATABASE_URL = "postgresql://user:secret@host/db" }
  }
  expect_failures = [var.environment]
}

run "rejects_an_existing_secret_for_an_undeclared_name" {
  command = plan
  variables {
    existing_secret_arns = { NOT_DECLARED = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf" }
  }
  expect_failures = [var.existing_secret_arns]
}
