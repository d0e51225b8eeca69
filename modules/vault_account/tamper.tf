# Tamper alarms in the vault account: calls on its snapshots, key, function and rules by anyone but the
# vault's own role (see modules/tamper_alarms).

module "tamper" {
  source = "../tamper_alarms"

  name_prefix        = "${var.name_prefix}-vault"
  topic_arn          = aws_sns_topic.vault.arn
  trusted_arn_prefix = "arn:${local.partition}:sts::${local.account_id}:assumed-role/${module.vault.role_name}/"
  key_ids            = [aws_kms_key.vault.key_id, aws_kms_key.vault.arn, aws_kms_alias.vault.name]
  function_names     = [local.function_name, module.vault.arn]
  rule_names         = [for r in aws_cloudwatch_event_rule.vault : r.name]
  log_retention_days = var.log_retention_days
  kms_key_arn        = aws_kms_key.vault.arn
}
