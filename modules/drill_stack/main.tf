# One drill stack: the drill function, its weekly schedule and its results table. The drills restore into the
# isolated network of network.tf (or the subnet and groups given), with the role of iam.tf.

locals {
  function_name = "${var.name_prefix}-drill"
  subnet_id     = coalesce(var.subnet_id, try(aws_subnet.drill[0].id, null))
  security_group_ids = length(var.security_group_ids) > 0 ? var.security_group_ids : [
    aws_security_group.drill[0].id
  ]
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Drill results: pk/sk, no secondary index (smart_vault.drill.results): an instance's history and a `latest`
# item per instance. Kept 400 days through the TTL attribute the code sets.
resource "aws_dynamodb_table" "results" {
  name         = "${var.name_prefix}-drill-results"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}

resource "aws_cloudwatch_log_group" "drill" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "drill" {
  #checkov:skip=CKV_AWS_117:The function only calls regional AWS APIs (EC2, DynamoDB, SNS, Lambda); the drill instances are in the isolated VPC, the function needs no network of its own.
  #checkov:skip=CKV_AWS_272:The zip is built by archive_file at apply time from the reviewed repository; there is no signing pipeline to attach a Signer profile to.
  #checkov:skip=CKV_AWS_115:One scheduled run a week: reserved concurrency would only take capacity from the account's other functions.
  #checkov:skip=CKV_AWS_116:A failed run is not retried (maximum_retry_attempts = 0, a retry would drill again) and is reported by the Errors alarm; the next run drills the same instances first.
  function_name = local.function_name
  description   = "Smart Vault restore drills: restores recovery points into an isolated network, measures the RTO, tears down."
  role          = aws_iam_role.drill.arn
  handler       = var.drill_handler
  runtime       = var.lambda_runtime
  architectures = ["x86_64"]
  memory_size   = 256
  # Lambda's limit: DRILL_TIMEOUT_SECONDS (at most 840) plus the 60 s the run keeps for the teardown.
  timeout = 900

  filename         = var.lambda_zip_path
  source_code_hash = var.lambda_zip_hash
  layers           = [var.powertools_layer_arn]
  kms_key_arn      = var.kms_key_arn

  environment {
    variables = {
      SNS_TOPIC_ARN             = var.sns_topic_arn
      DRILL_RESULTS_TABLE       = aws_dynamodb_table.results.name
      DRILL_SUBNET_ID           = local.subnet_id
      DRILL_SECURITY_GROUP_IDS  = join(",", local.security_group_ids)
      DRILL_MAX_INSTANCES       = tostring(var.max_instances)
      DRILL_ROTATION_DAYS       = tostring(var.rotation_days)
      DRILL_INSTANCE_TYPE       = coalesce(var.instance_type, "")
      DRILL_TIMEOUT_SECONDS     = tostring(var.timeout_seconds)
      DRILL_VALIDATION_FUNCTION = coalesce(var.validation_function_arn, "")
      # Drill instances get no instance profile: the isolated network reaches no AWS endpoint, and the role
      # would need iam:PassRole on every profile's role.
      ALLOWED_INSTANCE_PROFILE_ARNS = ""
    }
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.drill.name
  }

  depends_on = [aws_cloudwatch_log_group.drill, aws_iam_role_policy.drill]
}

resource "aws_lambda_function_event_invoke_config" "drill" {
  function_name = aws_lambda_function.drill.function_name

  # A retried run would drill the same instances again: leave a failed run to the Errors alarm.
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 3600
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = "${var.name_prefix}-drill-schedule"
  description         = "Smart Vault restore drills in ${var.region} (EventBridge cron is UTC)."
  schedule_expression = var.schedule_expression
}

resource "aws_cloudwatch_event_target" "schedule" {
  rule = aws_cloudwatch_event_rule.schedule.name
  arn  = aws_lambda_function.drill.arn

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }
}

resource "aws_lambda_permission" "schedule" {
  statement_id  = "AllowDrillSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.drill.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}
