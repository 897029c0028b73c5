################################################################################
# Registry
################################################################################

output "ecr_repository_url" {
  description = "URL of the ECR repository: push the image here as <url>:<image_tag>."
  value       = aws_ecr_repository.this.repository_url
}

output "ecr_repository_name" {
  description = "Name of the ECR repository (for `terraform apply -target` on the first deploy and for `aws ecr` commands)."
  value       = aws_ecr_repository.this.name
}

output "image_uri" {
  description = "The image the task definition runs."
  value       = local.image_uri
}

################################################################################
# Task
################################################################################

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "task_definition_family" {
  description = "Family of the task definition; the schedule always runs its latest revision."
  value       = aws_ecs_task_definition.this.family
}

output "task_definition_arn" {
  description = "ARN of the current task definition revision."
  value       = aws_ecs_task_definition.this.arn
}

output "run_task_command" {
  description = "AWS CLI command that runs the task once by hand, with the schedule's network settings."
  value = join(" ", [
    "aws ecs run-task",
    "--region ${local.region}",
    "--cluster ${aws_ecs_cluster.this.name}",
    "--task-definition ${aws_ecs_task_definition.this.family}",
    var.use_fargate_spot ? "--capacity-provider-strategy capacityProvider=FARGATE_SPOT,weight=1" : "--launch-type FARGATE",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", data.aws_subnets.default.ids)}],securityGroups=[${aws_security_group.task.id}],assignPublicIp=ENABLED}'",
  ])
}

################################################################################
# Schedule
################################################################################

output "schedule_name" {
  description = "Name of the EventBridge Scheduler schedule."
  value       = aws_scheduler_schedule.this.name
}

output "schedule_group_name" {
  description = "Schedule group holding the schedule."
  value       = aws_scheduler_schedule_group.this.name
}

output "schedule_arn" {
  description = "ARN of the EventBridge Scheduler schedule."
  value       = aws_scheduler_schedule.this.arn
}

################################################################################
# Secrets
################################################################################

output "secret_arns" {
  description = "Environment variable name => Secrets Manager secret ARN (ARNs only, never values). Put each value with `aws secretsmanager put-secret-value --secret-id <arn>`."
  value       = local.secret_arns
}

################################################################################
# Logs and alerts
################################################################################

output "log_group_name" {
  description = "CloudWatch log group of the task (`aws logs tail <name> --follow`)."
  value       = aws_cloudwatch_log_group.task.name
}

output "alerts_topic_arn" {
  description = "SNS topic that emails the alerts; subscribe more endpoints to it if you like."
  value       = aws_sns_topic.alerts.arn
}

output "scheduler_dlq_url" {
  description = "URL of the SQS dead-letter queue holding the schedule's failed starts."
  value       = aws_sqs_queue.scheduler_dlq.url
}

################################################################################
# Network
################################################################################

output "subnet_ids" {
  description = "The default VPC's subnets the task runs in."
  value       = data.aws_subnets.default.ids
}

output "security_group_id" {
  description = "Security group of the task (no ingress)."
  value       = aws_security_group.task.id
}
