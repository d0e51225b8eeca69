# One drill stack: the drill function, its weekly schedule and its results table. The drills restore into the
# isolated network of network.tf (or the subnet and groups given), with the role of iam.tf.

locals {
  function_name = "${var.name_prefix}-drill"

  # This region's entries of the settings' per-region maps: null or [] when the root names none here.
  given_subnet_id          = lookup(var.settings.subnet_ids, var.region, null)
  given_security_group_ids = lookup(var.settings.security_group_ids, var.region, [])
  validation_function_arn  = lookup(var.settings.validation_function_arns, var.region, null)

  subnet_id = coalesce(local.given_subnet_id, try(aws_subnet.drill[0].id, null))
  security_group_ids = length(local.given_security_group_ids) > 0 ? local.given_security_group_ids : [
    aws_security_group.drill[0].id
  ]
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Drill results: pk/sk, no secondary index (smart_vault.drill.results): an instance's history and a `latest`
# item per instance. Kept 400 days through the TTL attribute the code sets.
module "results" {
  source = "../table"

  name          = "${var.name_prefix}-drill-results"
  hash_key      = "pk"
  range_key     = "sk"
  ttl_attribute = "expires_at"
  kms_key_arn   = var.kms_key_arn
}

module "drill" {
  source = "../function"

  function_name    = local.function_name
  description      = "Smart Vault restore drills: restores recovery points into an isolated network, measures the RTO, tears down."
  role_description = "Smart Vault restore drills (${var.region}): temporary AMIs and instances from managed snapshots."
  handler          = var.drill_handler
  code             = var.function_code
  memory_size      = 256
  # Lambda's limit: DRILL_TIMEOUT_SECONDS (at most 840) plus the 60 s the run keeps for the teardown.
  timeout            = 900
  kms_key_arn        = var.kms_key_arn
  key_services       = ["dynamodb", "sns"] # the results table, the topic
  log_retention_days = var.settings.log_retention_days
  policies           = local.drill_policies # iam.tf

  environment = {
    SNS_TOPIC_ARN             = var.sns_topic_arn
    DRILL_RESULTS_TABLE       = module.results.name
    DRILL_SUBNET_ID           = local.subnet_id
    DRILL_SECURITY_GROUP_IDS  = join(",", local.security_group_ids)
    DRILL_MAX_INSTANCES       = tostring(var.settings.max_instances)
    DRILL_ROTATION_DAYS       = tostring(var.settings.rotation_days)
    DRILL_INSTANCE_TYPE       = var.settings.instance_type == null ? "" : var.settings.instance_type
    DRILL_TIMEOUT_SECONDS     = tostring(var.settings.timeout_seconds)
    DRILL_VALIDATION_FUNCTION = local.validation_function_arn == null ? "" : local.validation_function_arn
    # Drill instances get no instance profile: the isolated network reaches no AWS endpoint, and the role
    # would need iam:PassRole on every profile's role.
    ALLOWED_INSTANCE_PROFILE_ARNS = ""
  }

  # A retried run would drill the same instances again: leave a failed run to the Errors alarm (the next run
  # drills the same instances first). One scheduled run a week: no reserved concurrency.
  async_invocation = {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 3600
  }

  alarms = {
    Errors = "The drill function in ${var.region} raised an error (a run that did not return a report)."
  }
  alarm_topic_arn = var.sns_topic_arn
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = "${var.name_prefix}-drill-schedule"
  description         = "Smart Vault restore drills in ${var.region} (EventBridge cron is UTC)."
  schedule_expression = var.settings.schedule_expression
}

resource "aws_cloudwatch_event_target" "schedule" {
  rule = aws_cloudwatch_event_rule.schedule.name
  arn  = module.drill.arn

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }
}

resource "aws_lambda_permission" "schedule" {
  statement_id  = "AllowDrillSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.drill.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}
