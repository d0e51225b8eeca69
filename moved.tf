# Addresses that changed when the backup function and the copy ledger became instances of modules/function and
# modules/table: an existing
# deployment upgrades in place (no function, role, queue or log group is destroyed and created again).

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
  to   = module.backup.aws_cloudwatch_metric_alarm.this["Errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.backup_throttles
  to   = module.backup.aws_cloudwatch_metric_alarm.this["Throttles"]
}

moved {
  from = aws_cloudwatch_metric_alarm.backup_dlq
  to   = module.backup.aws_cloudwatch_metric_alarm.dlq[0]
}

moved {
  from = aws_dynamodb_table.copy_ledger
  to   = module.copy_ledger.aws_dynamodb_table.this
}
