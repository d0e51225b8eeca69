# Smart Vault: scheduled crash-consistent EBS snapshot sets with KMS-encrypted copies in a DR region, and a
# restore API in both regions. The pieces live in backup*.tf, kms.tf, notifications.tf, alarms.tf and the
# restore_stack module; this file holds what they share.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # The tag the code puts on everything it creates, and that IAM conditions on (contract "Tags").
  managed_by_tag = { key = "ManagedBy", value = "smart-vault" }

  tags = merge(var.tags, { (local.managed_by_tag.key) = local.managed_by_tag.value })

  regions           = [var.primary_region, var.dr_region]
  dr_retention_days = coalesce(var.dr_retention_days, var.retention_days)

  backup_function_name = "${var.name_prefix}-backup"

  lambda_runtime = "python3.12"
  # What every function of a region runs (modules/function's `code`): the one zip below, the runtime and the
  # Powertools layer of that region.
  function_code = {
    for region in local.regions : region => {
      zip_path = data.archive_file.lambda.output_path
      zip_hash = data.archive_file.lambda.output_base64sha256
      runtime  = local.lambda_runtime
      layers   = [replace(var.powertools_layer_arn, "{region}", region)]
    }
  }
  handlers = {
    backup         = "smart_vault.backup.handler"
    restore_api    = "smart_vault.restore_api.handler"
    restore_worker = "smart_vault.restore_worker.handler"
    drill          = "smart_vault.drill.handler"
  }
}

# One zip of the package for all three functions. The local stack, the CLI, the simulation and the
# authorization layer (smart_vault.authz, the test bed's IAM evaluation) are not part of the Lambda code;
# Powertools (with aws-xray-sdk) comes from the public layer and boto3 from the runtime, so `terraform
# apply` needs no build step.
data "archive_file" "lambda" {
  type        = "zip"
  source_dir  = "${path.module}/src"
  output_path = "${path.module}/.build/smart-vault-lambda.zip"
  excludes = [
    "smart_vault/local",
    "smart_vault/local/**",
    "smart_vault/cli",
    "smart_vault/cli/**",
    "smart_vault/sim",
    "smart_vault/sim/**",
    "smart_vault/authz",
    "smart_vault/authz/**",
    "**/__pycache__/**",
    "**/*.pyc",
    "*.egg-info/**",
  ]
}

# The restore API and its worker, in the primary region and (by default) in the DR region: a restore must
# work while the primary region is down. Each stack can restore in either region.
locals {
  # RESTORE_NETWORKS, the same map on both stacks: where full-instance restores land in the DR region.
  restore_networks = var.dr_subnet_id == null && length(var.dr_security_group_ids) == 0 ? {} : {
    (var.dr_region) = {
      subnet_id          = var.dr_subnet_id
      security_group_ids = length(var.dr_security_group_ids) > 0 ? var.dr_security_group_ids : null
    }
  }

  # The restore settings, the same on both stacks (modules/restore_stack's `settings`).
  restore_settings = {
    allowed_instance_types        = var.allowed_instance_types
    allowed_subnet_ids            = var.allowed_subnet_ids
    restore_networks              = local.restore_networks
    allowed_instance_profile_arns = var.allowed_instance_profile_arns
    snapshot_price_per_gb_month   = var.snapshot_price_per_gb_month
    api_throttle_rate_limit       = var.api_throttle_rate_limit
    api_throttle_burst            = var.api_throttle_burst_limit
    api_quota_per_day             = var.api_quota_per_day
    log_retention_days            = var.log_retention_days
    reserved_concurrency          = var.restore_reserved_concurrency
  }
}

module "restore_primary" {
  source = "./modules/restore_stack"

  name_prefix      = var.name_prefix
  region           = var.primary_region
  peer_region      = var.dr_region
  kms_key_arn      = aws_kms_key.primary.arn
  ebs_kms_key_arns = concat([aws_kms_key.dr.arn], var.source_volume_kms_key_arns)
  sns_topic_arn    = aws_sns_topic.notifications.arn

  function_code           = local.function_code[var.primary_region]
  api_handler             = local.handlers.restore_api
  worker_handler          = local.handlers.restore_worker
  openapi_template_path   = "${path.module}/openapi.yaml"
  settings                = local.restore_settings
  drill_results_table_arn = one(module.drill_primary[*].results_table_arn)
  change_ledger_table_arn = module.copy_ledger.arn
  api_gateway_logging     = local.api_gateway_logging
}

module "restore_dr" {
  source = "./modules/restore_stack"
  count  = var.restore_in_dr_region ? 1 : 0

  providers = {
    aws = aws.dr
  }

  name_prefix = "${var.name_prefix}-dr"
  region      = var.dr_region
  # Seen from the DR region, the primary region is "the other region" a restore may target.
  peer_region      = var.primary_region
  kms_key_arn      = aws_kms_key.dr.arn
  ebs_kms_key_arns = concat([aws_kms_key.dr.arn], var.source_volume_kms_key_arns)
  sns_topic_arn    = aws_sns_topic.dr_notifications.arn

  function_code           = local.function_code[var.dr_region]
  api_handler             = local.handlers.restore_api
  worker_handler          = local.handlers.restore_worker
  openapi_template_path   = "${path.module}/openapi.yaml"
  settings                = local.restore_settings
  drill_results_table_arn = one(module.drill_dr[*].results_table_arn)
  api_gateway_logging     = local.api_gateway_logging
}

# The trust policies of the roles AWS services assume for the vault (the functions' roles are
# modules/function's): the service, on behalf of this account only. EventBridge forwards the DR region's copy
# events (backup.tf) and sends aws:SourceAccount when it assumes a role. API Gateway writes the restore APIs'
# execution logs; its guide's trust policy for that role has no condition and no AWS page says it sends
# aws:SourceAccount, so its condition holds where the key is absent (IfExists) and binds where it is present:
# were the key absent, a plain StringEquals would make UpdateAccount refuse the role on a real apply.
data "aws_iam_policy_document" "service_assume" {
  for_each = {
    EventBridge = { service = "events.amazonaws.com", test = "StringEquals" }
    ApiGateway  = { service = "apigateway.amazonaws.com", test = "StringEqualsIfExists" }
  }

  statement {
    sid     = "ServiceAssumesRole"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value.service]
    }
    condition {
      test     = each.value.test
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# API Gateway writes execution logs to CloudWatch through one role per account (set per region by the
# restore stacks through aws_api_gateway_account).
resource "aws_iam_role" "api_gateway_logs" {
  name               = "${var.name_prefix}-apigw-logs"
  description        = "Lets API Gateway write the restore APIs' execution logs to CloudWatch Logs."
  assume_role_policy = data.aws_iam_policy_document.service_assume["ApiGateway"].json
}

resource "aws_iam_role_policy_attachment" "api_gateway_logs" {
  role       = aws_iam_role.api_gateway_logs.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

locals {
  # What the restore stacks set on their region's API Gateway account, or null where the operator manages that
  # setting (manage_api_gateway_account = false). An object, so that a first apply can plan its count: the
  # role's ARN is unknown until the role exists, the object is known to be there. The attachment's ID makes
  # the setting wait until the role can write logs (API Gateway checks the role when the setting is made).
  api_gateway_logging = var.manage_api_gateway_account ? {
    role_arn               = aws_iam_role.api_gateway_logs.arn
    role_policy_attachment = aws_iam_role_policy_attachment.api_gateway_logs.id
  } : null
}
