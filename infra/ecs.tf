################################################################################
# ECS cluster
################################################################################

resource "aws_ecs_cluster" "this" {
  # checkov:skip=CKV_AWS_65: Container Insights is opt-in (var.container_insights): for one short task a day its per-metric fees exceed the value; the job reports its own metrics (EMF) and the alarms in alerts.tf watch them.
  name = local.name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

# Both Fargate capacity providers are available; the schedule picks one
# (FARGATE, or FARGATE_SPOT when var.use_fargate_spot).
resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]
}
