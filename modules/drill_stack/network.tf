# The isolated drill network, unless an existing subnet is given: a VPC with one private subnet and no
# internet gateway, NAT or peering, and a security group with no rule at all (nothing in, nothing out; the
# groups are stateful, so a validation function in a group the operator allows still gets its answers).
# A drill instance boots from a copy of production: it must not reach production, nor anything else.

data "aws_availability_zones" "available" {
  count = local.given_subnet_id == null ? 1 : 0
  state = "available"
}

resource "aws_vpc" "drill" {
  #checkov:skip=CKV2_AWS_11:Nothing can enter or leave this VPC (no gateway, no peering, no rule in its only group); flow logs would record the absence of traffic at a cost per drill.
  count = local.given_subnet_id == null ? 1 : 0

  cidr_block           = var.settings.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = false

  tags = { Name = "${var.name_prefix}-drill" }
}

# The VPC's default group gets no rule either (a drill never uses it, and nothing else should).
resource "aws_default_security_group" "drill" {
  count  = local.given_subnet_id == null ? 1 : 0
  vpc_id = aws_vpc.drill[0].id

  tags = { Name = "${var.name_prefix}-drill-default-unused" }
}

resource "aws_subnet" "drill" {
  count = local.given_subnet_id == null ? 1 : 0

  vpc_id                  = aws_vpc.drill[0].id
  cidr_block              = cidrsubnet(var.settings.vpc_cidr, 8, 0)
  availability_zone       = data.aws_availability_zones.available[0].names[0]
  map_public_ip_on_launch = false

  tags = { Name = "${var.name_prefix}-drill-private" }
}

resource "aws_security_group" "drill" {
  #checkov:skip=CKV2_AWS_5:Attached at run time, to each drill instance, by the drill function's RunInstances.
  count = length(local.given_security_group_ids) == 0 ? 1 : 0

  name        = "${var.name_prefix}-drill-instances"
  description = "Smart Vault drill instances: no inbound and no outbound rule."
  vpc_id      = local.given_subnet_id == null ? aws_vpc.drill[0].id : data.aws_subnet.given[0].vpc_id

  tags = { Name = "${var.name_prefix}-drill-instances" }
}

data "aws_subnet" "given" {
  count = local.given_subnet_id != null && length(local.given_security_group_ids) == 0 ? 1 : 0
  id    = local.given_subnet_id
}
