################################################################################
# Task security group: no ingress, egress only to the ports the job needs
################################################################################

resource "aws_security_group" "task" {
  # checkov:skip=CKV2_AWS_5: Attached at run time: the schedule's network configuration (scheduler.tf) passes it to RunTask, which checkov does not follow.
  name        = "${local.name}-task"
  description = "dailyfetch ${var.job_name} task: no ingress; egress to HTTPS APIs, ECR and PostgreSQL."
  vpc_id      = data.aws_vpc.default.id

  # No ingress blocks: nothing connects to the task.

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "task" {
  for_each = { for p in var.egress_tcp_ports : tostring(p) => p }

  security_group_id = aws_security_group.task.id
  description       = "TCP ${each.value} to any address (APIs, ECR, the database)"
  ip_protocol       = "tcp"
  from_port         = each.value
  to_port           = each.value
  cidr_ipv4         = "0.0.0.0/0"
}
