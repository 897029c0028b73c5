terraform {
  # 1.9 or later: the memory validation in variables.tf refers to var.cpu.
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x and 6.x both work; the floor brings arn_without_revision and the
      # EventBridge Scheduler ECS target with capacity provider strategies.
      version = ">= 5.40, < 7.0"
    }
  }
}
