# Addresses that changed when the functions, the tables and the alarms became instances of modules/function,
# modules/table and modules/alarm: an existing deployment upgrades in place (no function, role, table,
# queue, log group or alarm is destroyed and created again).

moved {
  from = aws_lambda_function.restore_api
  to   = module.restore_api.aws_lambda_function.this
}

moved {
  from = aws_iam_role.restore_api
  to   = module.restore_api.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.restore_api
  to   = module.restore_api.aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy_attachment.restore_api_xray
  to   = module.restore_api.aws_iam_role_policy_attachment.xray
}

moved {
  from = aws_cloudwatch_log_group.api_function
  to   = module.restore_api.aws_cloudwatch_log_group.this
}

moved {
  from = aws_cloudwatch_metric_alarm.function["restore-api-errors"]
  to   = module.restore_api.module.errors[0].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.function["restore-api-throttles"]
  to   = module.restore_api.module.throttles[0].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_lambda_function.restore_worker
  to   = module.restore_worker.aws_lambda_function.this
}

moved {
  from = aws_iam_role.restore_worker
  to   = module.restore_worker.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.restore_worker
  to   = module.restore_worker.aws_iam_role_policy.this
}

moved {
  from = aws_iam_role_policy_attachment.restore_worker_xray
  to   = module.restore_worker.aws_iam_role_policy_attachment.xray
}

moved {
  from = aws_cloudwatch_log_group.worker_function
  to   = module.restore_worker.aws_cloudwatch_log_group.this
}

moved {
  from = aws_sqs_queue.worker_dlq
  to   = module.restore_worker.aws_sqs_queue.dlq[0]
}

moved {
  from = aws_lambda_function_event_invoke_config.restore_worker
  to   = module.restore_worker.aws_lambda_function_event_invoke_config.this[0]
}

moved {
  from = aws_cloudwatch_metric_alarm.function["restore-worker-errors"]
  to   = module.restore_worker.module.errors[0].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.function["restore-worker-throttles"]
  to   = module.restore_worker.module.throttles[0].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_cloudwatch_metric_alarm.worker_dlq
  to   = module.restore_worker.module.dlq[0].aws_cloudwatch_metric_alarm.this
}

moved {
  from = aws_dynamodb_table.restore_jobs
  to   = module.restore_jobs.aws_dynamodb_table.this
}

moved {
  from = aws_dynamodb_table.idempotency
  to   = module.idempotency.aws_dynamodb_table.this
}

moved {
  from = aws_cloudwatch_metric_alarm.api_5xx
  to   = module.api_5xx.aws_cloudwatch_metric_alarm.this
}
