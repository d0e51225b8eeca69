# One restore stack: the REST API (api.tf), the function that answers it, the asynchronous worker that
# creates the volume (and instance), and the two DynamoDB tables they share.

locals {
  api_function_name    = "${var.name_prefix}-restore-api"
  worker_function_name = "${var.name_prefix}-restore-worker"
  worker_function_arn  = "arn:${data.aws_partition.current.partition}:lambda:${var.region}:${data.aws_caller_identity.current.account_id}:function:${local.worker_function_name}"
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

resource "aws_dynamodb_table" "restore_jobs" {
  name         = "${var.name_prefix}-restore-jobs"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "restore_id"

  attribute {
    name = "restore_id"
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

# Powertools Idempotency's default schema: partition key `id`, TTL attribute `expiration`.
resource "aws_dynamodb_table" "idempotency" {
  name         = "${var.name_prefix}-idempotency"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expiration"
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

resource "aws_cloudwatch_log_group" "api_function" {
  name              = "/aws/lambda/${local.api_function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_group" "worker_function" {
  name              = "/aws/lambda/${local.worker_function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "restore_api" {
  #checkov:skip=CKV_AWS_117:The function only calls regional AWS APIs (EC2, DynamoDB, Lambda); a VPC would add NAT or interface endpoints and protect nothing.
  #checkov:skip=CKV_AWS_272:The zip is built by archive_file at apply time from the reviewed repository; there is no signing pipeline to attach a Signer profile to.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is opt-in (variable, default null): on a new account with the usual quota of 10, any reservation makes PutFunctionConcurrency fail.
  #checkov:skip=CKV_AWS_116:API Gateway invokes this function synchronously; there are no asynchronous events to dead-letter.
  function_name = local.api_function_name
  description   = "Smart Vault restore API: validates a restore request and hands it to the worker."
  role          = aws_iam_role.restore_api.arn
  handler       = var.api_handler
  runtime       = var.lambda_runtime
  architectures = ["x86_64"]
  memory_size   = 256
  # API Gateway waits at most 29 seconds for an integration.
  timeout = 29

  filename         = var.lambda_zip_path
  source_code_hash = var.lambda_zip_hash
  layers           = [var.powertools_layer_arn]

  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = {
      DR_REGION                     = var.peer_region
      RESTORE_WORKER_FUNCTION       = local.worker_function_name
      RESTORE_JOBS_TABLE            = aws_dynamodb_table.restore_jobs.name
      IDEMPOTENCY_TABLE             = aws_dynamodb_table.idempotency.name
      ALLOWED_INSTANCE_TYPES        = join(",", var.allowed_instance_types)
      ALLOWED_SUBNET_IDS            = join(",", var.allowed_subnet_ids)
      RESTORE_NETWORKS              = jsonencode(var.restore_networks)
      ALLOWED_INSTANCE_PROFILE_ARNS = join(",", var.allowed_instance_profile_arns)
      # The table name is the last part of its ARN; empty when no drill runs in this region.
      DRILL_RESULTS_TABLE = var.drill_results_table_arn == null ? "" : element(split("/", var.drill_results_table_arn), 1)
      # (v3) The measured changes of the primary snapshots; empty in the DR region (its copies carry them).
      COPY_LEDGER_TABLE           = var.change_ledger_table_arn == null ? "" : element(split("/", var.change_ledger_table_arn), 1)
      SNAPSHOT_PRICE_PER_GB_MONTH = tostring(var.snapshot_price_per_gb_month)
    }
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.api_function.name
  }

  depends_on = [aws_cloudwatch_log_group.api_function, aws_iam_role_policy.restore_api]
}

resource "aws_lambda_function" "restore_worker" {
  #checkov:skip=CKV_AWS_117:The function only calls regional AWS APIs (EC2, DynamoDB, SNS); a VPC would add NAT or interface endpoints and protect nothing.
  #checkov:skip=CKV_AWS_272:The zip is built by archive_file at apply time from the reviewed repository; there is no signing pipeline to attach a Signer profile to.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is opt-in (variable, default null): on a new account with the usual quota of 10, any reservation makes PutFunctionConcurrency fail.
  #checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to the on-failure destination (aws_lambda_function_event_invoke_config.restore_worker), which keeps the request and the error.
  function_name = local.worker_function_name
  description   = "Smart Vault restore worker: creates the volume (and instance), attaches, records, notifies."
  role          = aws_iam_role.restore_worker.arn
  handler       = var.worker_handler
  runtime       = var.lambda_runtime
  architectures = ["x86_64"]
  memory_size   = 256
  timeout       = 900

  filename         = var.lambda_zip_path
  source_code_hash = var.lambda_zip_hash
  layers           = [var.powertools_layer_arn]

  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = {
      SNS_TOPIC_ARN                 = var.sns_topic_arn
      RESTORE_JOBS_TABLE            = aws_dynamodb_table.restore_jobs.name
      RESTORE_NETWORKS              = jsonencode(var.restore_networks)
      ALLOWED_INSTANCE_PROFILE_ARNS = join(",", var.allowed_instance_profile_arns)
    }
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.worker_function.name
  }

  depends_on = [aws_cloudwatch_log_group.worker_function, aws_iam_role_policy.restore_worker]
}

resource "aws_sqs_queue" "worker_dlq" {
  name                      = "${var.name_prefix}-restore-worker-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
}

resource "aws_lambda_function_event_invoke_config" "restore_worker" {
  function_name = aws_lambda_function.restore_worker.function_name

  # Every create call carries a ClientToken derived from the restore id and a finished job is a no-op, so
  # a retry resumes the same restore instead of starting a second one.
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.worker_dlq.arn
    }
  }
}
