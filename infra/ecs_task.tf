################################################################################
# ECS task definition: one container running `dailyfetch run`
################################################################################

locals {
  image_uri = "${aws_ecr_repository.this.repository_url}:${var.image_tag}"

  container_definition = {
    name      = local.container_name
    image     = local.image_uri
    essential = true
    # The image's ENTRYPOINT is `dailyfetch`; this is the argument.
    command = ["run"]

    # A hard limit equal to the task's memory (ECS's run_task emulation needs it, too).
    memory = var.memory

    # The image is read-only; /tmp is a task-local scratch volume.
    readonlyRootFilesystem = true
    mountPoints = [{
      sourceVolume  = "tmp"
      containerPath = "/tmp"
      readOnly      = false
    }]

    # The job finishes its current batch within 25 s of SIGTERM (scale-in,
    # Spot interruption, `aws ecs stop-task`).
    stopTimeout = var.stop_timeout_seconds

    environment = [
      for k in sort(keys(var.environment)) : { name = k, value = var.environment[k] }
    ]

    # DATABASE_URL and API tokens: read from Secrets Manager by the ECS agent
    # at start, never in the task definition, the variables or the state.
    secrets = [
      for name in sort(keys(local.secret_arns)) : { name = name, valueFrom = local.secret_arns[name] }
    ]

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.task.name
        awslogs-region        = local.region
        awslogs-stream-prefix = local.log_stream_prefix
      }
    }
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = aws_iam_role.ecs_task_execution.arn
  task_role_arn            = aws_iam_role.ecs_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # Fargate task storage mounted at /tmp (the root filesystem is read-only).
  volume {
    name = "tmp"
  }

  # A change registers a new revision and deregisters the old one; a task
  # already running is not affected, and the next run starts the new revision.
  container_definitions = jsonencode([local.container_definition])
}
