# Addresses that changed when the backup function, the copy ledger and the alarms became instances of
# modules/function, modules/table and modules/alarm: an existing deployment upgrades in place (no function,
# role, table, queue, log group or alarm is destroyed and created again).

moved {
  from = aws_lambda_function.backup
  to   = module.backup.aws_lambda_function.this
}

moved {
  from = aws_iam_role.backup
  to   = module.backup.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.backup
  to   = module.backup.aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy_attachment.backup_xray
  to   = module.backup.aws_iam_role_policy_attachment.xray
}

moved {
  from = aws_cloudwatch_log_group.backup
  to   = module.backup.aws_cloudwatch_log_group.this
}

moved {
  from = aws_sqs_queue.backup_dlq
  to   = module.backup.aws_sqs_queue.dlq[0]
}

moved {
  from = aws_lambda_function_event_invoke_config.backup
  to   = module.backup.aws_lambda_function_event_invoke_config.this[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.backup_errors
  to   = module.backup.module.errors[0].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.backup_throttles
  to   = module.backup.module.throttles[0].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.backup_dlq
  to   = module.backup.module.dlq[0].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_dynamodb_table.copy_ledger
  to   = module.copy_ledger.aws_dynamodb_table.this
}

moved {
  from = aws_cloudwatch_metric_alarm.backup_failures
  to   = module.backup_counts["backup-failures"].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.rpo_breach
  to   = module.rpo_breaches["rpo-breach"].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.dr_rpo_breach
  to   = module.rpo_breaches["dr-rpo-breach"].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.owed_copy_age
  to   = module.owed_copy_age.aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.change_anomaly
  to   = module.backup_counts["change-anomaly"].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.billing[0]
  to   = module.billing[0].aws_cloudwatch_metric_alarm.this
}

# The backup function's four event targets and permissions became one resource each over local.backup_triggers.

moved {
  from = aws_cloudwatch_event_target.backup_schedule
  to   = aws_cloudwatch_event_target.backup["backup_schedule"]
}

moved {
  from = aws_lambda_permission.backup_schedule
  to   = aws_lambda_permission.backup["backup_schedule"]
}

moved {
  from = aws_cloudwatch_event_target.snapshot_completion
  to   = aws_cloudwatch_event_target.backup["snapshot_completion"]
}

moved {
  from = aws_lambda_permission.snapshot_completion
  to   = aws_lambda_permission.backup["snapshot_completion"]
}

moved {
  from = aws_cloudwatch_event_target.copy_completion
  to   = aws_cloudwatch_event_target.backup["copy_completion"]
}

moved {
  from = aws_lambda_permission.copy_completion
  to   = aws_lambda_permission.backup["copy_completion"]
}

moved {
  from = aws_cloudwatch_event_target.copy_reconciliation
  to   = aws_cloudwatch_event_target.backup["copy_reconciliation"]
}

moved {
  from = aws_lambda_permission.copy_reconciliation
  to   = aws_lambda_permission.backup["copy_reconciliation"]
}

# The dead-letter queue's policy (EventBridge sends the rules' undeliverable events) became modules/function's.
moved {
  from = aws_sqs_queue_policy.backup_dlq
  to   = module.backup.aws_sqs_queue_policy.dlq[0]
}

# The Recycle Bin rules became instances of modules/recycle_bin (one definition for both regions and the vault).
moved {
  from = aws_rbin_rule.snapshots
  to   = module.recycle_bin.aws_rbin_rule.this
}

moved {
  from = aws_rbin_rule.dr_snapshots
  to   = module.dr_recycle_bin.aws_rbin_rule.this
}

# The two count alarms and the two regions' RPO alarms became one for_each call each (alarms.tf).
moved {
  from = module.backup_failures
  to   = module.backup_counts["backup-failures"]
}

moved {
  from = module.change_anomaly
  to   = module.backup_counts["change-anomaly"]
}

moved {
  from = module.rpo_breach
  to   = module.rpo_breaches["rpo-breach"]
}

moved {
  from = module.dr_rpo_breach
  to   = module.rpo_breaches["dr-rpo-breach"]
}
