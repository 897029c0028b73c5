################################################################################
# Account
################################################################################

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

################################################################################
# Network: the default VPC and its public subnets
################################################################################

data "aws_vpc" "default" {
  default = true
}

data "aws_subnets" "default" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default.id]
  }

  # The default subnet of each Availability Zone: public, with a route to the
  # VPC's internet gateway.
  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}
