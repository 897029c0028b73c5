################################################################################
# General
################################################################################

variable "aws_region" {
  description = "AWS region to deploy into, e.g. ap-northeast-1."
  type        = string
  default     = "ap-northeast-1"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region code such as ap-northeast-1 or us-east-1."
  }
}

variable "job_name" {
  description = "The job's name, from dailyfetch.toml (written by `dailyfetch tfvars`): the `job` dimension of the job's metrics. Resource names use it lower-cased, with '.' and repeated separators turned into '-', cut to 32 characters."
  type        = string
  default     = "dailyfetch"
  nullable    = false

  validation {
    # The same rule as dailyfetch.toml's [job] name.
    condition     = can(regex("^[A-Za-z0-9_.-]{1,100}$", var.job_name)) && can(regex("[A-Za-z0-9]", var.job_name))
    error_message = "job_name must be 1 to 100 letters, digits, '.', '-' or '_', with at least one letter or digit (the rule dailyfetch.toml applies)."
  }
}

variable "tags" {
  description = "Extra tags for every resource (added to Application, Job and ManagedBy)."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Schedule
################################################################################

variable "schedule_expression" {
  description = "When the job runs: an EventBridge Scheduler cron(min hour day-of-month month day-of-week year) or rate(N unit) expression, from dailyfetch.toml (written by `dailyfetch tfvars`)."
  type        = string
  default     = "cron(30 2 * * ? *)"
  nullable    = false

  validation {
    condition = (
      can(regex("^cron\\(\\S+ \\S+ \\S+ \\S+ \\S+ \\S+\\)$", var.schedule_expression)) ||
      can(regex("^rate\\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\\)$", var.schedule_expression))
    )
    error_message = "schedule_expression must be cron(minutes hours day-of-month month day-of-week year), six fields, or rate(N minutes|hours|days), e.g. cron(30 2 * * ? *)."
  }

  validation {
    # AWS cron: exactly one of day-of-month (3rd field) and day-of-week (5th) is "?".
    condition = !startswith(var.schedule_expression, "cron(") || try(
      length([for i in [2, 4] : i if split(" ", trimsuffix(trimprefix(var.schedule_expression, "cron("), ")"))[i] == "?"]) == 1,
      false
    )
    error_message = "In an AWS cron expression exactly one of day-of-month (3rd field) and day-of-week (5th field) must be '?', e.g. cron(30 2 * * ? *)."
  }

  validation {
    # AWS: rate(1 day), rate(2 days); a mismatched unit is rejected at apply.
    condition = !startswith(var.schedule_expression, "rate(") || try(
      (tonumber(regex("^rate\\(([0-9]+) ", var.schedule_expression)[0]) == 1) == !endswith(var.schedule_expression, "s)"),
      false
    )
    error_message = "In rate() the unit is singular for 1 and plural otherwise: rate(1 day), rate(12 hours)."
  }
}

variable "schedule_timezone" {
  description = "IANA time zone in which schedule_expression is read, e.g. Asia/Tokyo or UTC, from dailyfetch.toml (written by `dailyfetch tfvars`)."
  type        = string
  default     = "Asia/Tokyo"
  nullable    = false

  validation {
    condition     = can(regex("^(UTC|GMT|[A-Z][A-Za-z_-]+(/[A-Za-z0-9_+-]+){1,2})$", var.schedule_timezone))
    error_message = "schedule_timezone must be an IANA time zone name such as Asia/Tokyo, Europe/Berlin, America/Argentina/Buenos_Aires or UTC."
  }
}

variable "schedule_enabled" {
  description = "Whether the schedule starts the task. Set false to pause the job without destroying anything."
  type        = bool
  default     = true
  nullable    = false
}

variable "retry_max_attempts" {
  description = "How many times EventBridge Scheduler retries a failed RunTask call before it sends the event to the dead-letter queue (0 to 185)."
  type        = number
  default     = 3
  nullable    = false

  validation {
    condition     = var.retry_max_attempts >= 0 && var.retry_max_attempts <= 185 && floor(var.retry_max_attempts) == var.retry_max_attempts
    error_message = "retry_max_attempts must be a whole number from 0 to 185."
  }
}

variable "retry_max_event_age_seconds" {
  description = "How long (seconds, 60 to 86400) EventBridge Scheduler keeps retrying a failed RunTask call before it gives up and sends the event to the dead-letter queue."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.retry_max_event_age_seconds >= 60 && var.retry_max_event_age_seconds <= 86400 && floor(var.retry_max_event_age_seconds) == var.retry_max_event_age_seconds
    error_message = "retry_max_event_age_seconds must be a whole number from 60 to 86400."
  }
}

################################################################################
# Task
################################################################################

variable "image_tag" {
  description = "Tag of the image in this stack's ECR repository that the task runs. Tags are immutable: push each build under a new tag (scripts/deploy.sh uses the git commit)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag: up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'."
  }
}

variable "cpu" {
  description = "Task CPU units (256 = 0.25 vCPU). Fargate accepts 256, 512, 1024, 2048, 4096, 8192 or 16384."
  type        = number
  default     = 256
  nullable    = false

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "memory" {
  description = "Task memory in MiB. Must be a size Fargate accepts for the chosen cpu: 256 -> 512, 1024, 2048; 512 -> 1024 to 4096; 1024 -> 2048 to 8192; 2048 -> 4096 to 16384 (steps of 1024); 4096 -> 8192 to 30720 (steps of 1024); 8192 -> 16384 to 61440 (steps of 4096); 16384 -> 32768 to 122880 (steps of 8192)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition = contains(lookup({
      "256"   = [512, 1024, 2048]
      "512"   = [1024, 2048, 3072, 4096]
      "1024"  = [for m in range(2048, 8193, 1024) : m]
      "2048"  = [for m in range(4096, 16385, 1024) : m]
      "4096"  = [for m in range(8192, 30721, 1024) : m]
      "8192"  = [for m in range(16384, 61441, 4096) : m]
      "16384" = [for m in range(32768, 122881, 8192) : m]
    }, tostring(var.cpu), []), var.memory)
    error_message = "This cpu/memory pair is not one Fargate accepts. For cpu 256 use 512, 1024 or 2048; for 512 use 1024-4096; for 1024 use 2048-8192; for 2048 use 4096-16384 (steps of 1024); see the variable's description for the larger sizes."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the task and of the image: X86_64 or ARM64 (Graviton, about 20% cheaper; build the image for linux/arm64)."
  type        = string
  default     = "X86_64"
  nullable    = false

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "task_count" {
  description = "How many tasks each scheduled run starts (1 to 10). Tasks of one run share its partitions through the ledger."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.task_count >= 1 && var.task_count <= 10 && floor(var.task_count) == var.task_count
    error_message = "task_count must be a whole number from 1 to 10."
  }
}

variable "use_fargate_spot" {
  description = "Run the task on Fargate Spot (about 70% cheaper; AWS may stop it with two minutes' notice, and the job then resumes on the next run)."
  type        = bool
  default     = false
  nullable    = false
}

variable "stop_timeout_seconds" {
  description = "Seconds ECS waits after SIGTERM before it kills the container (the job finishes its batch within 25 s). 2 to 120."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 120 && floor(var.stop_timeout_seconds) == var.stop_timeout_seconds
    error_message = "stop_timeout_seconds must be a whole number from 2 to 120 (Fargate's maximum)."
  }
}

variable "environment" {
  description = "Extra plain (non-secret) environment variables for the container, e.g. { LOG_LEVEL = \"info\" }. Secrets go in api_secret_names instead."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "environment keys must be environment variable names: letters, digits and '_', not starting with a digit."
  }

  validation {
    condition     = length(setintersection(keys(var.environment), ["DATABASE_URL", "DAILYFETCH_DATABASE_URL", "DAILYFETCH_CONFIG"])) == 0
    error_message = "environment must not set DATABASE_URL, DAILYFETCH_DATABASE_URL or DAILYFETCH_CONFIG: the database URL is a secret (Secrets Manager) and the config path is fixed by the image."
  }
}

variable "container_insights" {
  description = "Enable CloudWatch Container Insights on the cluster (extra metrics, billed per metric)."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Secrets
################################################################################

variable "api_secret_names" {
  description = "Names of extra environment variables (API tokens) that the config references as $${NAME}. Each gets its own Secrets Manager secret, injected into the container; DATABASE_URL always has one."
  type        = set(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for n in var.api_secret_names : can(regex("^[A-Z_][A-Z0-9_]*$", n))])
    error_message = "api_secret_names must be upper-case environment variable names such as API_TOKEN."
  }

  validation {
    condition     = !contains(var.api_secret_names, "DATABASE_URL")
    error_message = "DATABASE_URL always has its own secret; do not list it in api_secret_names."
  }
}

variable "existing_secret_arns" {
  description = "Use secrets you already have instead of creating them: a map from environment variable name (DATABASE_URL or one of api_secret_names) to the secret's full ARN."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for arn in values(var.existing_secret_arns) : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", arn))])
    error_message = "existing_secret_arns values must be full Secrets Manager secret ARNs (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx)."
  }

  validation {
    condition     = alltrue([for k in keys(var.existing_secret_arns) : k == "DATABASE_URL" || contains(var.api_secret_names, k)])
    error_message = "existing_secret_arns keys must be DATABASE_URL or names listed in api_secret_names."
  }
}

variable "secrets_kms_key_arns" {
  description = "KMS keys (full ARNs) that encrypt secrets given in existing_secret_arns, if they use your own key rather than aws/secretsmanager. The execution role may decrypt with them through Secrets Manager only."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.secrets_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", arn))])
    error_message = "secrets_kms_key_arns must be full KMS key ARNs (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (7 to 30), or 0 to delete at once (useful when tearing down and re-creating)."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or a number from 7 to 30."
  }
}

################################################################################
# Registry and logs
################################################################################

variable "ecr_keep_images" {
  description = "How many images the ECR lifecycle policy keeps (the newest); older ones are expired."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.ecr_keep_images >= 1 && var.ecr_keep_images <= 1000 && floor(var.ecr_keep_images) == var.ecr_keep_images
    error_message = "ecr_keep_images must be a whole number from 1 to 1000."
  }
}

variable "ecr_force_delete" {
  description = "Let `terraform destroy` delete the ECR repository even when it still holds images."
  type        = bool
  default     = false
  nullable    = false
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the task's logs. One of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

################################################################################
# Alerts
################################################################################

variable "alert_email" {
  description = "Email address that receives the alerts (scheduler failures, task failures, missed runs). AWS sends a confirmation link first."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an email address such as ops@example.com."
  }
}

variable "missed_run_window_hours" {
  description = "The missed-run alarm fires when no successful run was reported for this many hours (hourly periods; 2 to 168). Keep it a little longer than the interval between runs: 26 for a daily job."
  type        = number
  default     = 26
  nullable    = false

  validation {
    # CloudWatch allows period x evaluation_periods up to 7 days for periods of an hour or more.
    condition     = var.missed_run_window_hours >= 2 && var.missed_run_window_hours <= 168 && floor(var.missed_run_window_hours) == var.missed_run_window_hours
    error_message = "missed_run_window_hours must be a whole number from 2 to 168 (CloudWatch evaluates at most 7 days)."
  }
}

################################################################################
# Network
################################################################################

variable "egress_tcp_ports" {
  description = "TCP ports the task may connect out to (any address): 443 for HTTPS APIs and ECR, 5432 for PostgreSQL. DNS to the VPC resolver needs no rule."
  type        = set(number)
  default     = [443, 5432]
  nullable    = false

  validation {
    condition     = length(var.egress_tcp_ports) > 0 && alltrue([for p in var.egress_tcp_ports : p >= 1 && p <= 65535 && floor(p) == p])
    error_message = "egress_tcp_ports must hold at least one port number from 1 to 65535."
  }
}
