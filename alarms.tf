# Alarms of the backup side, all to the primary notification topic. The restore stacks raise their own
# alarms to their region's topic; the billing alarm lives in us-east-1, where billing metrics are.

locals {
  # The dimensions the backup handler emits: Powertools Metrics adds the service to BackupFailures (and the
  # other run metrics); RecoveryPointAgeSeconds is a single metric with the Region dimension only.
  metric_service_dimension = { service = "smart-vault" }
}

resource "aws_cloudwatch_metric_alarm" "backup_failures" {
  alarm_name          = "${var.name_prefix}-backup-failures"
  alarm_description   = "A backup run or snapshot-completion event reported failures (instances, copies or deletions)."
  namespace           = "SmartVault"
  metric_name         = "BackupFailures"
  dimensions          = local.metric_service_dimension
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
}

# RPO breach: the newest completed snapshot of some protected instance is older than the objective. Only the
# latest hourly datapoint counts, so the alarm clears with the first run that reports an age back under the
# threshold (a 1-of-N window kept it in ALARM for up to N hours after one breach). Hours without a run are
# ignored: the state of the last reported run holds until the next one reports.
resource "aws_cloudwatch_metric_alarm" "rpo_breach" {
  alarm_name                = "${var.name_prefix}-rpo-breach"
  alarm_description         = "RecoveryPointAgeSeconds above ${var.rpo_threshold_hours} h in the latest backup run's report."
  namespace                 = "SmartVault"
  metric_name               = "RecoveryPointAgeSeconds"
  dimensions                = { Region = var.primary_region }
  statistic                 = "Maximum"
  period                    = 3600
  evaluation_periods        = 1
  datapoints_to_alarm       = 1
  threshold                 = var.rpo_threshold_hours * 3600
  comparison_operator       = "GreaterThanThreshold"
  treat_missing_data        = "ignore"
  alarm_actions             = [aws_sns_topic.notifications.arn]
  insufficient_data_actions = [aws_sns_topic.notifications.arn]
  ok_actions                = [aws_sns_topic.notifications.arn]
}

# (v2) DR RPO: the newest DR copy of some protected instance is older than the DR objective.
resource "aws_cloudwatch_metric_alarm" "dr_rpo_breach" {
  alarm_name                = "${var.name_prefix}-dr-rpo-breach"
  alarm_description         = "RecoveryPointAgeSeconds in ${var.dr_region} above ${var.dr_rpo_threshold_hours} h: DR copies fall behind."
  namespace                 = "SmartVault"
  metric_name               = "RecoveryPointAgeSeconds"
  dimensions                = { Region = var.dr_region }
  statistic                 = "Maximum"
  period                    = 3600
  evaluation_periods        = 1
  threshold                 = var.dr_rpo_threshold_hours * 3600
  comparison_operator       = "GreaterThanThreshold"
  treat_missing_data        = "missing"
  alarm_actions             = [aws_sns_topic.notifications.arn]
  insufficient_data_actions = [aws_sns_topic.notifications.arn]
  ok_actions                = [aws_sns_topic.notifications.arn]
}

# (v2) A copy owed for too long: more copy work than the 20 DR slots carry.
resource "aws_cloudwatch_metric_alarm" "owed_copy_age" {
  alarm_name          = "${var.name_prefix}-owed-copy-age"
  alarm_description   = "OldestOwedCopySeconds above ${var.owed_copy_threshold_hours} h: the copy backlog is not draining."
  namespace           = "SmartVault"
  metric_name         = "OldestOwedCopySeconds"
  dimensions          = local.metric_service_dimension
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.owed_copy_threshold_hours * 3600
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
}

# The backup function's Errors, Throttles and dead-letter alarms are the function module's (backup.tf).

resource "aws_cloudwatch_metric_alarm" "billing" {
  provider = aws.us_east_1
  count    = var.enable_billing_alarm ? 1 : 0

  alarm_name          = "${var.name_prefix}-estimated-charges"
  alarm_description   = "The account's estimated charges this month exceed ${var.billing_alarm_threshold_usd} USD."
  namespace           = "AWS/Billing"
  metric_name         = "EstimatedCharges"
  dimensions          = { Currency = "USD" }
  statistic           = "Maximum"
  period              = 21600
  evaluation_periods  = 1
  threshold           = var.billing_alarm_threshold_usd
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.billing[0].arn]
}

# (v3) A change-rate anomaly: a volume changed at least CHANGE_ANOMALY_FACTOR times its median (ransomware
# that encrypts a disk looks like this). Each anomaly also sends its own ANOMALY notification; the alarm is the
# signal a pager or an incident tool follows.
resource "aws_cloudwatch_metric_alarm" "change_anomaly" {
  alarm_name          = "${var.name_prefix}-change-anomaly"
  alarm_description   = "A backup measured an anomalous change rate on a volume: its recovery point is suspect, the last clean one is held (docs/anomalies.md)."
  namespace           = "SmartVault"
  metric_name         = "ChangeAnomalies"
  dimensions          = local.metric_service_dimension
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.notifications.arn]
  ok_actions          = [aws_sns_topic.notifications.arn]
}
