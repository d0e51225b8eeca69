# Alarms of the backup side, all to the primary notification topic. The restore stacks raise their own
# alarms to their region's topic; the billing alarm lives in us-east-1, where billing metrics are.

locals {
  # The dimensions the backup handler emits: Powertools Metrics adds the service to BackupFailures (and the
  # other run metrics); RecoveryPointAgeSeconds is a single metric with the Region dimension only.
  metric_service_dimension = { service = "smart-vault" }
}

# What went wrong in a backup, counted: the first one in five minutes raises the alarm, and it clears once a
# five-minute period passes without one. A change-rate anomaly (v3): a volume changed at least
# CHANGE_ANOMALY_FACTOR times its median (ransomware that encrypts a disk looks like this); each anomaly also
# sends its own ANOMALY notification, the alarm is the signal a pager or an incident tool follows.
module "backup_counts" {
  source = "./modules/alarm"
  for_each = {
    backup-failures = {
      metric      = "BackupFailures"
      description = "A backup run or snapshot-completion event reported failures (instances, copies or deletions)."
    }
    change-anomaly = {
      metric      = "ChangeAnomalies"
      description = "A backup measured an anomalous change rate on a volume: its recovery point is suspect, the last clean one is held (docs/anomalies.md)."
    }
  }

  name               = "${var.name_prefix}-${each.key}"
  description        = each.value.description
  namespace          = "SmartVault"
  metric             = each.value.metric
  dimensions         = local.metric_service_dimension
  statistic          = "Sum"
  period             = 300
  threshold          = 0
  treat_missing_data = "notBreaching"
  topic_arn          = aws_sns_topic.notifications.arn
  notify_ok          = true
}

# RPO breach, per region: the newest recovery point of some protected instance (a snapshot in the primary
# region, (v2) a DR copy in the DR region) is older than that region's objective. In the primary region only
# the latest hourly datapoint counts, so the alarm clears with the first run that reports an age back under
# the threshold (a 1-of-N window kept it in ALARM for up to N hours after one breach), and hours without a run
# are ignored: the state of the last reported run holds until the next one reports.
module "rpo_breaches" {
  source = "./modules/alarm"
  for_each = {
    rpo-breach = {
      region              = var.primary_region
      hours               = var.rpo_threshold_hours
      description         = "RecoveryPointAgeSeconds above ${var.rpo_threshold_hours} h in the latest backup run's report."
      datapoints_to_alarm = 1
      treat_missing_data  = "ignore"
    }
    dr-rpo-breach = {
      region              = var.dr_region
      hours               = var.dr_rpo_threshold_hours
      description         = "RecoveryPointAgeSeconds in ${var.dr_region} above ${var.dr_rpo_threshold_hours} h: DR copies fall behind."
      datapoints_to_alarm = null
      treat_missing_data  = "missing"
    }
  }

  name                     = "${var.name_prefix}-${each.key}"
  description              = each.value.description
  namespace                = "SmartVault"
  metric                   = "RecoveryPointAgeSeconds"
  dimensions               = { Region = each.value.region }
  statistic                = "Maximum"
  period                   = 3600
  datapoints_to_alarm      = each.value.datapoints_to_alarm
  threshold                = each.value.hours * 3600
  treat_missing_data       = each.value.treat_missing_data
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
