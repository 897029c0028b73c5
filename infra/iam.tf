################################################################################
# ECS task execution role: pulls the image, writes logs, reads the secrets
################################################################################

resource "aws_iam_role" "ecs_task_execution" {
  name        = "${local.name}-ecs-task-execution"
  description = "ECS agent role for the ${var.job_name} task: pull from ECR, write logs, read its secrets."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EcsTasksOfThisAccount"
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      # Against the confused-deputy problem: only ECS acting for this account.
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:*" }
      }
    }]
  })
}

resource "aws_iam_role_policy_attachment" "ecs_task_execution" {
  role       = aws_iam_role.ecs_task_execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "ecs_task_execution_secrets" {
  name = "read-${local.name}-secrets"
  role = aws_iam_role.ecs_task_execution.name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "ReadThisJobsSecrets"
      Effect   = "Allow"
      Action   = "secretsmanager:GetSecretValue"
      Resource = sort(values(local.secret_arns))
    }]
  })
}

# Only for given secrets encrypted with your own KMS key (secrets_kms_key_arns).
resource "aws_iam_role_policy" "ecs_task_execution_kms" {
  count = length(var.secrets_kms_key_arns) > 0 ? 1 : 0

  name = "decrypt-${local.name}-secrets"
  role = aws_iam_role.ecs_task_execution.name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DecryptThoseSecretsThroughSecretsManager"
      Effect    = "Allow"
      Action    = "kms:Decrypt"
      Resource  = var.secrets_kms_key_arns
      Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" } }
    }]
  })
}

################################################################################
# ECS task role: what the job's own code may call (nothing yet)
################################################################################

resource "aws_iam_role" "ecs_task" {
  name        = "${local.name}-ecs-task"
  description = "Role of the ${var.job_name} container's own code. No permissions: the job talks to an HTTP API and PostgreSQL, not to AWS."

  assume_role_policy = aws_iam_role.ecs_task_execution.assume_role_policy
}

################################################################################
# EventBridge Scheduler role: starts this task on this cluster, nothing else
################################################################################

resource "aws_iam_role" "scheduler" {
  name        = "${local.name}-scheduler"
  description = "EventBridge Scheduler role for ${var.job_name}: run its task, pass its two roles, dead-letter failed starts."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "SchedulesOfThisJob"
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnEquals    = { "aws:SourceArn" = local.schedule_group_arn }
      }
    }]
  })
}

resource "aws_iam_role_policy" "scheduler" {
  name = "run-${local.name}-task"
  role = aws_iam_role.scheduler.name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "RunThisTaskFamilyOnThisCluster"
        Effect = "Allow"
        Action = "ecs:RunTask"
        # The family without a revision (what the schedule names) and any revision of it.
        Resource = [
          aws_ecs_task_definition.this.arn_without_revision,
          # format(), not "$${...}:*": checkov cannot render the latter and would skip this policy.
          format("%s:*", aws_ecs_task_definition.this.arn_without_revision),
        ]
        Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
      },
      {
        Sid       = "PassOnlyTheTaskRoles"
        Effect    = "Allow"
        Action    = "iam:PassRole"
        Resource  = [aws_iam_role.ecs_task_execution.arn, aws_iam_role.ecs_task.arn]
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
      {
        # The schedule propagates the task definition's tags to the tasks it starts.
        Sid       = "TagTheTasksItStarts"
        Effect    = "Allow"
        Action    = "ecs:TagResource"
        Resource  = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.this.name}/*"
        Condition = { StringEquals = { "ecs:CreateAction" = "RunTask" } }
      },
      {
        Sid      = "DeadLetterFailedStarts"
        Effect   = "Allow"
        Action   = "sqs:SendMessage"
        Resource = aws_sqs_queue.scheduler_dlq.arn
      },
    ]
  })
}
