# (v3) The vault account: a second AWS account that keeps its own locked copy of every DR recovery point,
# encrypted with its own key (modules/vault_account, applied with the aws.vault provider). The workload side
# (sharing, announcing, the DR key's grant) is in backup_vault_iam.tf and kms.tf. docs/vault.md has the
# set-up step by step.

locals {
  deploy_vault = var.vault_account_id != "" && var.deploy_vault_stack
  # VAULT_EVENT_BUS_ARN: the deployed stack's bus, or the one given (a vault stack applied separately).
  vault_event_bus_arn = local.deploy_vault ? module.vault_account[0].vault_event_bus_arn : var.vault_event_bus_arn
}

module "vault_account" {
  source = "./modules/vault_account"
  count  = local.deploy_vault ? 1 : 0

  providers = {
    aws = aws.vault
  }

  name_prefix                = var.name_prefix
  region                     = var.dr_region
  source_account_ids         = [local.account_id]
  source_kms_key_arns        = [aws_kms_key.dr.arn]
  key_administrator_arns     = var.vault_key_administrator_arns
  recovery_role_arns         = var.vault_recovery_role_arns
  tamper_trail_arns          = var.vault_tamper_trail_arns
  function_code              = local.function_code[var.dr_region]
  retention_days             = var.vault_retention_days
  lock_mode                  = var.vault_lock_mode
  lock_cool_off_hours        = var.vault_lock_cool_off_hours
  notification_email         = var.notification_email
  log_retention_days         = var.log_retention_days
  recycle_bin_retention_days = var.recycle_bin_retention_days
}

# ------------------------------------------------------------------ tamper alarms of the workload account

data "aws_iam_policy_document" "tamper_topic" {
  for_each = { primary = aws_sns_topic.notifications.arn, dr = aws_sns_topic.dr_notifications.arn }

  statement {
    sid       = "EventBridgeAndAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [each.value]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "notifications" {
  arn    = aws_sns_topic.notifications.arn
  policy = data.aws_iam_policy_document.tamper_topic["primary"].json
}

resource "aws_sns_topic_policy" "dr_notifications" {
  provider = aws.dr
  arn      = aws_sns_topic.dr_notifications.arn
  policy   = data.aws_iam_policy_document.tamper_topic["dr"].json
}

# The functions of each region, which its tamper alarms watch, each where it is deployed: in the primary
# region the backup function (it lives there only) and the primary stacks' restore API and worker and drill
# (with drill_regions); in the DR region the DR stacks' restore API and worker and drill.
locals {
  primary_function_names = concat(
    [module.backup.function_name],
    [module.restore_primary.restore_api_function_name, module.restore_primary.restore_worker_function_name],
    module.drill_primary[*].function_name,
  )
  dr_function_names = concat(
    module.restore_dr[*].restore_api_function_name,
    module.restore_dr[*].restore_worker_function_name,
    module.drill_dr[*].function_name,
  )
  # By name (modules/tamper_alarms matches every form the Lambda API takes); an event pattern needs a value, so
  # with no function in a region (the DR region without its restore stack and drill) the rule watches a name no
  # function has.
  tamper_function_names = {
    for side, names in { primary = local.primary_function_names, dr = local.dr_function_names } : side => coalescelist(
      names,
      ["${var.name_prefix}-${side}-no-function"],
    )
  }
  # The trails the tamper rules depend on, each watched by the rules of its home region (a trail is stopped,
  # updated or deleted there only), by ARN and by name.
  tamper_trail_names = {
    for side, region in { primary = var.primary_region, dr = var.dr_region } : side => flatten([
      for arn in var.tamper_trail_arns : [arn, element(split(":trail/", arn), 1)] if split(":", arn)[3] == region
    ])
  }
  # The vault function's role: each vault copy of a DR copy makes EBS create a grant on the DR key with that
  # role's permissions, an event of the DR key's account too (KMS logs a cross-account call in both accounts).
  # Applied separately, the vault stack's role is named as its bus (modules/vault_account: both are the vault
  # function's name), which VAULT_EVENT_BUS_ARN gives.
  vault_copy_role_arns = var.vault_account_id == "" ? [] : [
    local.deploy_vault ? module.vault_account[0].vault_role_arn : "arn:${local.partition}:iam::${var.vault_account_id}:role/${element(split(":event-bus/", var.vault_event_bus_arn), 1)}"
  ]
}

# The primary region holds the backup function, its rules, the primary snapshots and the primary stacks.
module "tamper_primary" {
  source = "./modules/tamper_alarms"

  name_prefix        = var.name_prefix
  topic_arn          = aws_sns_topic.notifications.arn
  trusted_arn_prefix = "arn:${local.partition}:sts::${local.account_id}:assumed-role/${var.name_prefix}-"
  key_ids            = [aws_kms_key.primary.key_id, aws_kms_key.primary.arn, aws_kms_alias.primary.name]
  function_names     = local.tamper_function_names["primary"]
  trail_names        = local.tamper_trail_names["primary"]
  # Every rule that invokes the backup function (local.backup_triggers): disabling any one stops backups or
  # copies. And the primary drill's schedule, where it runs: disabled, drills stop and no drill metric reports
  # it (the overdue alarm holds its last state while no run reports).
  rule_names = concat(
    [
      aws_cloudwatch_event_rule.backup_schedule.name,
      aws_cloudwatch_event_rule.snapshot_completion.name,
      aws_cloudwatch_event_rule.copy_completion.name,
      aws_cloudwatch_event_rule.copy_reconciliation.name,
    ],
    module.drill_primary[*].schedule_rule_name,
  )
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.primary.arn
}

# The DR region holds the DR copies (shared with the vault), the DR key, the copy-completion rule and the DR
# stacks. The vault function's role may create grants on the DR key (for EBS, the key policy's condition), and
# nothing else: its other key calls are reported like anyone's.
module "tamper_dr" {
  source = "./modules/tamper_alarms"

  providers = {
    aws = aws.dr
  }

  name_prefix        = var.name_prefix
  topic_arn          = aws_sns_topic.dr_notifications.arn
  trusted_arn_prefix = "arn:${local.partition}:sts::${local.account_id}:assumed-role/${var.name_prefix}-"
  key_ids            = [aws_kms_key.dr.key_id, aws_kms_key.dr.arn, aws_kms_alias.dr.name]
  function_names     = local.tamper_function_names["dr"]
  rule_names         = concat([aws_cloudwatch_event_rule.dr_copy_completion.name], module.drill_dr[*].schedule_rule_name)
  grant_role_arns    = local.vault_copy_role_arns
  trail_names        = local.tamper_trail_names["dr"]
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.dr.arn
}

# ------------------------------------------------------------------ Recycle Bin, both regions

module "recycle_bin" {
  source = "./modules/recycle_bin"

  description    = "Deleted Smart Vault snapshots stay ${var.recycle_bin_retention_days} days in the Recycle Bin."
  retention_days = var.recycle_bin_retention_days
}

module "dr_recycle_bin" {
  source    = "./modules/recycle_bin"
  providers = { aws = aws.dr }

  description    = "Deleted Smart Vault DR copies stay ${var.recycle_bin_retention_days} days in the Recycle Bin."
  retention_days = var.recycle_bin_retention_days
}
