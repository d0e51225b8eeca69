# The backup function: the daily scheduled run, the EC2 snapshot-completion events that start DR copies at
# once, and its own continuation when a large run needs a second invocation.

module "backup" {
  source = "./modules/function"

  function_name    = local.backup_function_name
  description      = "Smart Vault: crash-consistent snapshot sets, DR copies and pruning."
  role_description = "Smart Vault backup function: snapshot sets, DR copies, pruning of managed snapshots."
  handler          = local.handlers.backup
  code             = local.function_code[var.primary_region]
  memory_size      = 512
  timeout          = var.backup_timeout_seconds
  # One scheduled run and its continuation plus completion events; never enough to flood the EC2 API.
  reserved_concurrency = var.backup_reserved_concurrency
  kms_key_arn          = aws_kms_key.primary.arn
  log_retention_days   = var.log_retention_days
  policies             = local.backup_policies # backup_iam.tf

  environment = {
    SNS_TOPIC_ARN         = aws_sns_topic.notifications.arn
    BACKUP_TAG_KEY        = var.backup_tag_key
    BACKUP_TAG_VALUE      = join(",", var.backup_tag_values)
    RETENTION_DAYS        = tostring(var.retention_days)
    DR_RETENTION_DAYS     = tostring(local.dr_retention_days)
    MIN_SNAPSHOTS_KEPT    = tostring(var.min_snapshots_kept)
    DR_REGION             = var.dr_region
    DR_KMS_KEY_ID         = aws_kms_key.dr.arn
    MAX_CONCURRENT_COPIES = tostring(var.max_concurrent_copies)
    DRY_RUN               = tostring(var.dry_run)
    COPY_LEDGER_TABLE     = module.copy_ledger.name
    # (v3) Change-rate anomalies (docs/anomalies.md).
    CHANGE_ANOMALY_FACTOR       = tostring(var.change_anomaly_factor)
    CHANGE_ANOMALY_MIN_GIB      = tostring(var.change_anomaly_min_gib)
    SNAPSHOT_PRICE_PER_GB_MONTH = tostring(var.snapshot_price_per_gb_month)
    LOCK_MODE                   = var.lock_mode
    LOCK_COOL_OFF_HOURS         = tostring(var.lock_cool_off_hours)
    LOCK_PRIMARY                = tostring(var.lock_primary)
    VAULT_ACCOUNT_ID            = var.vault_account_id
    VAULT_EVENT_BUS_ARN         = local.vault_event_bus_arn
    # (v3) Application-consistent sets (instances tagged Backup-Scripts).
    APP_CONSISTENT_TIMEOUT_SECONDS = tostring(var.app_consistent_timeout_seconds)
    APP_CONSISTENT_ON_FAILURE      = var.app_consistent_on_failure
  }

  # A redelivered event is safe (the run id comes from the event id, so no second snapshot set is taken),
  # so one retry covers a transient failure; an event older than two hours is left to the next run. Failed
  # asynchronous invocations (schedule, completion events, continuations) land in the dead-letter queue.
  async_invocation = {
    maximum_retry_attempts        = 1
    maximum_event_age_in_seconds  = 7200
    dead_letter_queue_name        = "${var.name_prefix}-backup-dlq"
    dead_letter_alarm_description = "Backup events that failed for good wait in the dead-letter queue."
    # Every rule whose target sends its failed deliveries here (aws_cloudwatch_event_target.backup below).
    dead_letter_event_rule_arns = [
      aws_cloudwatch_event_rule.backup_schedule.arn,
      aws_cloudwatch_event_rule.snapshot_completion.arn,
      aws_cloudwatch_event_rule.copy_completion.arn,
      aws_cloudwatch_event_rule.copy_reconciliation.arn,
    ]
  }

  alarms = {
    Errors    = "The backup function raised an error (a run that did not return a report)."
    Throttles = "The backup function was throttled: its reserved concurrency is too small for the events it gets."
  }
  alarm_topic_arn = aws_sns_topic.notifications.arn
}

resource "aws_cloudwatch_event_rule" "backup_schedule" {
  name                = "${var.name_prefix}-backup-schedule"
  description         = "Smart Vault daily backup run (EventBridge cron is UTC)."
  schedule_expression = var.backup_schedule
}

resource "aws_cloudwatch_event_rule" "snapshot_completion" {
  name        = "${var.name_prefix}-snapshot-completion"
  description = "EBS snapshot completion events: start the DR copies of managed snapshots at once."
  event_pattern = jsonencode({
    source      = ["aws.ec2"]
    detail-type = ["EBS Multi-Volume Snapshots Completion Status", "EBS Snapshot Notification"]
    detail = {
      event = ["createSnapshot", "createSnapshots"]
    }
  })
}

# (v2) The copy ledger: one item per DR copy claimed, started or failed (pk/sk, no index).
module "copy_ledger" {
  source = "./modules/table"

  name          = "${var.name_prefix}-copy-ledger"
  hash_key      = "pk"
  range_key     = "sk"
  ttl_attribute = "expires_at"
  kms_key_arn   = aws_kms_key.primary.arn
}

# (v2) Copy-completion events happen in the DR region: its default bus forwards them to the primary's.
resource "aws_cloudwatch_event_rule" "dr_copy_completion" {
  provider    = aws.dr
  name        = "${var.name_prefix}-dr-copy-completion"
  description = "EBS copySnapshot results in the DR region, forwarded to the primary region's default bus."
  event_pattern = jsonencode({
    source      = ["aws.ec2"]
    detail-type = ["EBS Snapshot Notification"]
    detail = {
      event = ["copySnapshot"]
    }
  })
}

resource "aws_iam_role" "copy_event_forwarder" {
  name               = "${var.name_prefix}-copy-event-forwarder"
  description        = "Smart Vault: forwards DR copySnapshot events to the primary region's default bus."
  assume_role_policy = data.aws_iam_policy_document.service_assume["EventBridge"].json
}

data "aws_iam_policy_document" "copy_event_forwarder" {
  statement {
    sid       = "PutEventsOnPrimaryDefaultBus"
    actions   = ["events:PutEvents"]
    resources = ["arn:${local.partition}:events:${var.primary_region}:${local.account_id}:event-bus/default"]
  }
}

resource "aws_iam_role_policy" "copy_event_forwarder" {
  name   = "forward"
  role   = aws_iam_role.copy_event_forwarder.id
  policy = data.aws_iam_policy_document.copy_event_forwarder.json
}

resource "aws_cloudwatch_event_target" "dr_copy_completion" {
  provider = aws.dr
  rule     = aws_cloudwatch_event_rule.dr_copy_completion.name
  arn      = "arn:${local.partition}:events:${var.primary_region}:${local.account_id}:event-bus/default"
  role_arn = aws_iam_role.copy_event_forwarder.arn
}

# In the primary region: the forwarded DR copy results go to the backup function (region = DR region).
resource "aws_cloudwatch_event_rule" "copy_completion" {
  name        = "${var.name_prefix}-copy-completion"
  description = "DR copySnapshot results (forwarded from the DR region): free a slot, start owed copies."
  event_pattern = jsonencode({
    source      = ["aws.ec2"]
    detail-type = ["EBS Snapshot Notification"]
    region      = [var.dr_region]
    detail = {
      event = ["copySnapshot"]
    }
  })
}

# (v2) The periodic reconciliation: owed copies start even when a completion event was lost.
resource "aws_cloudwatch_event_rule" "copy_reconciliation" {
  name                = "${var.name_prefix}-copy-reconciliation"
  description         = "Smart Vault: start owed DR copies into free slots."
  schedule_expression = "rate(${var.copy_reconcile_minutes} minutes)"
}

# The four rules that invoke the backup function, each through its own permission. A failed delivery is
# retried (the reconciliation's is not: the next one comes within minutes, and an old one is stale) and then
# left in the function's dead-letter queue.
locals {
  backup_triggers = {
    backup_schedule = {
      rule            = aws_cloudwatch_event_rule.backup_schedule
      statement_id    = "AllowScheduleRule"
      input           = null
      retries         = 2
      max_age_seconds = 3600
    }
    snapshot_completion = {
      rule            = aws_cloudwatch_event_rule.snapshot_completion
      statement_id    = "AllowSnapshotCompletionRule"
      input           = null
      retries         = 2
      max_age_seconds = 3600
    }
    copy_completion = {
      rule            = aws_cloudwatch_event_rule.copy_completion
      statement_id    = "AllowCopyCompletionRule"
      input           = null
      retries         = 2
      max_age_seconds = 3600
    }
    copy_reconciliation = {
      rule            = aws_cloudwatch_event_rule.copy_reconciliation
      statement_id    = "AllowCopyReconciliationRule"
      input           = jsonencode({ reconcile_copies = true })
      retries         = 0
      max_age_seconds = 600
    }
  }
}

resource "aws_cloudwatch_event_target" "backup" {
  for_each = local.backup_triggers

  rule  = each.value.rule.name
  arn   = module.backup.arn
  input = each.value.input

  retry_policy {
    maximum_retry_attempts       = each.value.retries
    maximum_event_age_in_seconds = each.value.max_age_seconds
  }

  dead_letter_config {
    arn = module.backup.dead_letter_queue_arn
  }
}

resource "aws_lambda_permission" "backup" {
  for_each = local.backup_triggers

  statement_id  = each.value.statement_id
  action        = "lambda:InvokeFunction"
  function_name = module.backup.function_name
  principal     = "events.amazonaws.com"
  source_arn    = each.value.rule.arn
}
