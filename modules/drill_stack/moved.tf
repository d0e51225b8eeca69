# Addresses that changed when the drill function, its table and its alarms became instances of
# modules/function, modules/table and modules/alarm: an existing deployment upgrades in place (no function,
# role, table, log group or alarm is destroyed and created again).

moved {
  from = aws_lambda_function.drill
  to   = module.drill.aws_lambda_function.this
}

moved {
  from = aws_iam_role.drill
  to   = module.drill.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.drill
  to   = module.drill.aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy_attachment.drill_xray
  to   = module.drill.aws_iam_role_policy_attachment.xray
}

moved {
  from = aws_cloudwatch_log_group.drill
  to   = module.drill.aws_cloudwatch_log_group.this
}

moved {
  from = aws_lambda_function_event_invoke_config.drill
  to   = module.drill.aws_lambda_function_event_invoke_config.this[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.drill_errors
  to   = module.drill.module.errors[0].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_dynamodb_table.results
  to   = module.results.aws_dynamodb_table.this
}

moved {
  from = aws_cloudwatch_metric_alarm.drills_failed
  to   = module.drill_counts["drills-failed"].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.drills_overdue
  to   = module.drills_overdue.aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.drill_rto
  to   = module.drill_rto.aws_cloudwatch_metric_alarm.this
}

# The failed-drills alarm became one of the drill counts (with the leftovers alarm).
moved {
  from = module.drills_failed
  to   = module.drill_counts["drills-failed"]
}
