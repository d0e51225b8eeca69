# One restore stack: the REST API (api.tf), the function that answers it, the asynchronous worker that
# creates the volume (and instance), and the two DynamoDB tables they share.

locals {
  api_function_name    = "${var.name_prefix}-restore-api"
  worker_function_name = "${var.name_prefix}-restore-worker"
  worker_function_arn  = "arn:${data.aws_partition.current.partition}:lambda:${var.region}:${data.aws_caller_identity.current.account_id}:function:${local.worker_function_name}"
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

module "restore_jobs" {
  source = "../table"

  name          = "${var.name_prefix}-restore-jobs"
  hash_key      = "restore_id"
  ttl_attribute = "expires_at"
  kms_key_arn   = var.kms_key_arn
}

# Powertools Idempotency's default schema: partition key `id`, TTL attribute `expiration`.
module "idempotency" {
  source = "../table"

  name          = "${var.name_prefix}-idempotency"
  hash_key      = "id"
  ttl_attribute = "expiration"
  kms_key_arn   = var.kms_key_arn
}

module "restore_api" {
  source = "../function"

  function_name    = local.api_function_name
  description      = "Smart Vault restore API: validates a restore request and hands it to the worker."
  role_description = "Smart Vault restore API function (${var.region}): pre-checks, job records, worker start."
  handler          = var.api_handler
  code             = var.function_code
  memory_size      = 256
  # API Gateway waits at most 29 seconds for an integration.
  timeout              = 29
  reserved_concurrency = var.settings.reserved_concurrency
  kms_key_arn          = var.kms_key_arn
  key_services         = ["dynamodb"] # the tables
  log_retention_days   = var.settings.log_retention_days
  policies             = local.restore_api_policies # iam.tf

  environment = {
    DR_REGION                     = var.peer_region
    RESTORE_WORKER_FUNCTION       = local.worker_function_name
    RESTORE_JOBS_TABLE            = module.restore_jobs.name
    IDEMPOTENCY_TABLE             = module.idempotency.name
    ALLOWED_INSTANCE_TYPES        = join(",", var.settings.allowed_instance_types)
    ALLOWED_SUBNET_IDS            = join(",", var.settings.allowed_subnet_ids)
    RESTORE_NETWORKS              = jsonencode(var.settings.restore_networks)
    ALLOWED_INSTANCE_PROFILE_ARNS = join(",", var.settings.allowed_instance_profile_arns)
    # The table name is the last part of its ARN; empty when no drill runs in this region.
    DRILL_RESULTS_TABLE = var.drill_results_table_arn == null ? "" : element(split("/", var.drill_results_table_arn), 1)
    # (v3) The measured changes of the primary snapshots; empty in the DR region (its copies carry them).
    COPY_LEDGER_TABLE           = var.change_ledger_table_arn == null ? "" : element(split("/", var.change_ledger_table_arn), 1)
    SNAPSHOT_PRICE_PER_GB_MONTH = tostring(var.settings.snapshot_price_per_gb_month)
  }

  # API Gateway invokes it synchronously: no asynchronous invocations, nothing to dead-letter.
  alarms = {
    Errors    = "Errors of ${local.api_function_name}."
    Throttles = "Throttles of ${local.api_function_name}."
  }
  alarm_topic_arn = var.sns_topic_arn
}

module "restore_worker" {
  source = "../function"

  function_name        = local.worker_function_name
  description          = "Smart Vault restore worker: creates the volume (and instance), attaches, records, notifies."
  role_description     = "Smart Vault restore worker (${var.region}): volumes and instances from managed snapshots."
  handler              = var.worker_handler
  code                 = var.function_code
  memory_size          = 256
  timeout              = 900
  reserved_concurrency = var.settings.reserved_concurrency
  kms_key_arn          = var.kms_key_arn
  key_services         = ["dynamodb", "sns"] # the jobs table, the topic
  log_retention_days   = var.settings.log_retention_days
  policies             = local.restore_worker_policies # iam.tf

  environment = {
    SNS_TOPIC_ARN                 = var.sns_topic_arn
    RESTORE_JOBS_TABLE            = module.restore_jobs.name
    RESTORE_NETWORKS              = jsonencode(var.settings.restore_networks)
    ALLOWED_INSTANCE_PROFILE_ARNS = join(",", var.settings.allowed_instance_profile_arns)
  }

  # Every create call carries a ClientToken derived from the restore id and a finished job is a no-op, so
  # a retry resumes the same restore instead of starting a second one.
  async_invocation = {
    maximum_retry_attempts        = 2
    maximum_event_age_in_seconds  = 3600
    dead_letter_queue_name        = "${var.name_prefix}-restore-worker-dlq"
    dead_letter_alarm_description = "Restore worker invocations that failed for good wait in the dead-letter queue."
  }

  alarms = {
    Errors    = "Errors of ${local.worker_function_name}."
    Throttles = "Throttles of ${local.worker_function_name}."
  }
  alarm_topic_arn = var.sns_topic_arn
}
