# Tamper alarms in the vault account: calls on its snapshots, key, function, rules and bus by anyone but the
# vault's own role (see modules/tamper_alarms). The recovery roles (restore worker and drill of the stacks
# deployed here) make EC2 create grants on the vault key for each volume they restore: that call, and only
# that one, is theirs to make.

module "tamper" {
  source = "../tamper_alarms"

  name_prefix        = "${var.name_prefix}-vault"
  topic_arn          = aws_sns_topic.vault.arn
  trusted_arn_prefix = "arn:${local.partition}:sts::${local.account_id}:assumed-role/${module.vault.role_name}/"
  key_ids            = [aws_kms_key.vault.key_id, aws_kms_key.vault.arn, aws_kms_alias.vault.name]
  function_names     = [local.function_name]
  rule_names         = [for r in aws_cloudwatch_event_rule.vault : r.name]
  grant_role_arns    = var.recovery_role_arns
  bus_names          = [aws_cloudwatch_event_bus.vault.name, aws_cloudwatch_event_bus.vault.arn]
  trail_names        = flatten([for arn in var.tamper_trail_arns : [arn, element(split(":trail/", arn), 1)]])
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.vault.arn
}
