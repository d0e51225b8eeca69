# One Lambda function of the vault: the function, its role with the policy documents it is given, its log
# group (retention, KMS key), its asynchronous invocation settings and dead-letter queue where it has them,
# and the standard alarms. Every function of the project is an instance of this module.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Its `id` is the region's name in AWS provider 5.x and 6.x alike (6.x deprecates `name`, 5.x has no `region`).
data "aws_region" "current" {}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "LambdaAssumesRole"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.function_name
  description        = var.role_description
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

# Every function writes its own log group, and nothing else of CloudWatch Logs.
data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "WriteOwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

# The function's data is encrypted with its key (kms_key_arn) by the services that hold it: Lambda (the
# environment, decrypted at every cold start), SQS (the dead-letter queue, where there is one) and those the
# caller names (its tables, its topic). The role may use the key through these services only. Written where
# the caller names key_services: the backup role's use of its key is kms.tf's, the vault key's policy names
# the vault role itself.
data "aws_iam_policy_document" "kms" {
  count = var.key_services == null ? 0 : 1

  statement {
    sid       = "UseOwnKeyThroughItsServices"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        for service in concat(var.key_services, try(var.async_invocation.dead_letter_queue_name, null) == null ? [] : ["sqs"], ["lambda"]) :
        "${service}.${data.aws_region.current.id}.amazonaws.com"
      ]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = merge(
    { logs = data.aws_iam_policy_document.logs.json },
    var.key_services == null ? {} : { kms = data.aws_iam_policy_document.kms[0].json },
    var.policies,
  )

  name   = each.key
  role   = aws_iam_role.this.id
  policy = each.value
}

resource "aws_iam_role_policy_attachment" "xray" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The functions only call regional AWS APIs (EC2, DynamoDB, SNS, Lambda); a VPC would add NAT or interface endpoints and protect nothing (the drill's instances are in their own isolated VPC).
  #checkov:skip=CKV_AWS_272:The zip is built by archive_file at apply time from the reviewed repository; there is no signing pipeline to attach a Signer profile to.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is opt-in (variable, default null): Lambda keeps 100 executions unreserved, so on a new account with the usual quota of 10 any reservation makes PutFunctionConcurrency fail.
  #checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to the on-failure destination (aws_lambda_function_event_invoke_config.this) where a function has one, which keeps the request and the error; the restore API is invoked synchronously, and a failed drill is not retried but alarmed.
  function_name = var.function_name
  description   = var.description
  role          = aws_iam_role.this.arn
  handler       = var.handler
  runtime       = var.code.runtime
  architectures = ["x86_64"]
  memory_size   = var.memory_size
  timeout       = var.timeout

  filename         = var.code.zip_path
  source_code_hash = var.code.zip_hash
  layers           = var.code.layers

  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

# Failed asynchronous invocations land here, encrypted (functions with a dead-letter queue only).
resource "aws_sqs_queue" "dlq" {
  count = try(var.async_invocation.dead_letter_queue_name, null) == null ? 0 : 1

  name                      = var.async_invocation.dead_letter_queue_name
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
}

# EventBridge rules that invoke the function leave their undeliverable events in the same queue (their
# targets' dead_letter_config): the queue's policy lets EventBridge send them, for those rules only.
data "aws_iam_policy_document" "dlq" {
  count = var.async_invocation == null ? 0 : var.async_invocation.dead_letter_queue_name == null || var.async_invocation.dead_letter_event_rule_arns == null ? 0 : 1

  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [one(aws_sqs_queue.dlq[*].arn)]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = var.async_invocation.dead_letter_event_rule_arns
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  count = var.async_invocation == null ? 0 : var.async_invocation.dead_letter_queue_name == null || var.async_invocation.dead_letter_event_rule_arns == null ? 0 : 1

  queue_url = aws_sqs_queue.dlq[0].url
  policy    = data.aws_iam_policy_document.dlq[0].json
}

resource "aws_lambda_function_event_invoke_config" "this" {
  count = var.async_invocation == null ? 0 : 1

  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.async_invocation.maximum_retry_attempts
  maximum_event_age_in_seconds = var.async_invocation.maximum_event_age_in_seconds

  dynamic "destination_config" {
    for_each = aws_sqs_queue.dlq[*].arn
    content {
      on_failure {
        destination = destination_config.value
      }
    }
  }
}

# The standard alarms: a Lambda metric (Errors, Throttles) above zero in 5 minutes, and messages waiting in
# the dead-letter queue.
module "lambda_metric" {
  source   = "../alarm"
  for_each = var.alarms

  name               = "${var.function_name}-${lower(each.key)}"
  description        = each.value
  namespace          = "AWS/Lambda"
  metric             = each.key
  dimensions         = { FunctionName = aws_lambda_function.this.function_name }
  statistic          = "Sum"
  period             = 300
  threshold          = 0
  treat_missing_data = "notBreaching"
  topic_arn          = var.alarm_topic_arn
}

module "dlq" {
  source = "../alarm"
  count  = try(var.async_invocation.dead_letter_queue_name, null) == null || try(var.async_invocation.dead_letter_alarm_description, null) == null ? 0 : 1

  name               = "${var.function_name}-dlq-messages"
  description        = try(var.async_invocation.dead_letter_alarm_description, "")
  namespace          = "AWS/SQS"
  metric             = "ApproximateNumberOfMessagesVisible"
  dimensions         = { QueueName = aws_sqs_queue.dlq[0].name }
  statistic          = "Maximum"
  period             = 300
  threshold          = 0
  treat_missing_data = "notBreaching"
  topic_arn          = var.alarm_topic_arn
}
