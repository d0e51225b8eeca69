# Addresses that changed when the vault function, its ledger and its alarms became instances of
# modules/function, modules/table and modules/alarm: an existing deployment upgrades in place (no function,
# role, table, queue, log group or alarm is destroyed and created again).

moved {
  from = aws_lambda_function.vault
  to   = module.vault.aws_lambda_function.this
}

moved {
  from = aws_iam_role.vault
  to   = module.vault.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.vault
  to   = module.vault.aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy_attachment.vault_xray
  to   = module.vault.aws_iam_role_policy_attachment.xray
}

moved {
  from = aws_cloudwatch_log_group.vault
  to   = module.vault.aws_cloudwatch_log_group.this
}

moved {
  from = aws_sqs_queue.vault_dlq
  to   = module.vault.aws_sqs_queue.dlq[0]
}

moved {
  from = aws_lambda_function_event_invoke_config.vault
  to   = module.vault.aws_lambda_function_event_invoke_config.this[0]
}

moved {
  from = aws_dynamodb_table.ledger
  to   = module.ledger.aws_dynamodb_table.this
}

moved {
  from = aws_cloudwatch_metric_alarm.vault["backlog"]
  to   = module.vault_backlog.aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.vault["rejected"]
  to   = module.vault_rejected.aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.vault["rpo"]
  to   = module.vault_rpo.aws_cloudwatch_metric_alarm.this
}

# The dead-letter queue's policy (EventBridge sends the rules' undeliverable events) became modules/function's.
moved {
  from = aws_sqs_queue_policy.vault_dlq
  to   = module.vault.aws_sqs_queue_policy.dlq[0]
}

# The Recycle Bin rule became an instance of modules/recycle_bin (one definition for the vault and the workload).
moved {
  from = aws_rbin_rule.vault_snapshots
  to   = module.recycle_bin.aws_rbin_rule.this
}
