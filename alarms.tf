# Alarms of the backup side, all to the primary notification topic. The restore stacks raise their own
# alarms to their region's topic; the billing alarm lives in us-east-1, where billing metrics are.

locals {
  # The dimensions the backup handler emits: Powertools Metrics adds the service to BackupFailures (and the
  # other run metrics); RecoveryPointAgeSeconds is a single metric with the Region dimension only.
  metric_service_dimension = { service = "smart-vault" }
}

module "backup_failures" {
  source = "./modules/alarm"

  name               = "${var.name_prefix}-backup-failures"
  description        = "A backup run or snapshot-completion event reported failures (instances, copies or deletions)."
  namespace          = "SmartVault"
  metric             = "BackupFailures"
  dimensions         = local.metric_service_dimension
  statistic          = "Sum"
  period             = 300
  threshold          = 0
  treat_missing_data = "notBreaching"
  topic_arn          = aws_sns_topic.notifications.arn
  notify_ok          = true
}

# RPO breach: the newest completed snapshot of some protected instance is older than the objective. Only the
# latest hourly datapoint counts, so the alarm clears with the first run that reports an age back under the
# threshold (a 1-of-N window kept it in ALARM for up to N hours after one breach). Hours without a run are
# ignored: the state of the last reported run holds until the next one reports.
module "rpo_breach" {
  source = "./modules/alarm"

  name                     = "${var.name_prefix}-rpo-breach"
  description              = "RecoveryPointAgeSeconds above ${var.rpo_threshold_hours} h in the latest backup run's report."
  namespace                = "SmartVault"
  metric                   = "RecoveryPointAgeSeconds"
  dimensions               = { Region = var.primary_region }
  statistic                = "Maximum"
  period                   = 3600
  datapoints_to_alarm      = 1
  threshold                = var.rpo_threshold_hours * 3600
  treat_missing_data       = "ignore"
  topic_arn                = aws_sns_topic.notifications.arn
  notify_ok                = true
  notify_insufficient_data = true
}

# (v2) DR RPO: the newest DR copy of some protected instance is older than the DR objective.
module "dr_rpo_breach" {
  source = "./modules/alarm"

  name                     = "${var.name_prefix}-dr-rpo-breach"
  description              = "RecoveryPointAgeSeconds in ${var.dr_region} above ${var.dr_rpo_threshold_hours} h: DR copies fall behind."
  namespace                = "SmartVault"
  metric                   = "RecoveryPointAgeSeconds"
  dimensions               = { Region = var.dr_region }
  statistic                = "Maximum"
  period                   = 3600
  threshold                = var.dr_rpo_threshold_hours * 3600
  treat_missing_data       = "missing"
  topic_arn                = aws_sns_topic.notifications.arn
  notify_ok                = true
  notify_insufficient_data = true
}

# (v2) A copy owed for too long: more copy work than the 20 DR slots carry.
module "owed_copy_age" {
  source = "./modules/alarm"

  name               = "${var.name_prefix}-owed-copy-age"
  description        = "OldestOwedCopySeconds above ${var.owed_copy_threshold_hours} h: the copy backlog is not draining."
  namespace          = "SmartVault"
  metric             = "OldestOwedCopySeconds"
  dimensions         = local.metric_service_dimension
  statistic          = "Maximum"
  period             = 3600
  threshold          = var.owed_copy_threshold_hours * 3600
  treat_missing_data = "notBreaching"
  topic_arn          = aws_sns_topic.notifications.arn
  notify_ok          = true
}

# The backup function's Errors, Throttles and dead-letter alarms are the function module's (backup.tf).

module "billing" {
  source    = "./modules/alarm"
  providers = { aws = aws.us_east_1 }
  count     = var.enable_billing_alarm ? 1 : 0

  name               = "${var.name_prefix}-estimated-charges"
  description        = "The account's estimated charges this month exceed ${var.billing_alarm_threshold_usd} USD."
  namespace          = "AWS/Billing"
  metric             = "EstimatedCharges"
  dimensions         = { Currency = "USD" }
  statistic          = "Maximum"
  period             = 21600
  threshold          = var.billing_alarm_threshold_usd
  treat_missing_data = "notBreaching"
  topic_arn          = aws_sns_topic.billing[0].arn
}

# (v3) A change-rate anomaly: a volume changed at least CHANGE_ANOMALY_FACTOR times its median (ransomware
# that encrypts a disk looks like this). Each anomaly also sends its own ANOMALY notification; the alarm is the
# signal a pager or an incident tool follows.
module "change_anomaly" {
  source = "./modules/alarm"

  name               = "${var.name_prefix}-change-anomaly"
  description        = "A backup measured an anomalous change rate on a volume: its recovery point is suspect, the last clean one is held (docs/anomalies.md)."
  namespace          = "SmartVault"
  metric             = "ChangeAnomalies"
  dimensions         = local.metric_service_dimension
  statistic          = "Sum"
  period             = 300
  threshold          = 0
  treat_missing_data = "notBreaching"
  topic_arn          = aws_sns_topic.notifications.arn
  notify_ok          = true
}

