# Drill alarms, to this region's topic. The drill metrics carry the dimension Region only
# (smart_vault.drill.entry.emit_metrics), so the alarms name exactly that.

locals {
  drill_dimensions = { Region = var.region }
}

resource "aws_cloudwatch_metric_alarm" "drills_failed" {
  alarm_name          = "${var.name_prefix}-drills-failed"
  alarm_description   = "A restore drill in ${var.region} failed: a recovery point did not restore, pass its checks or tear down cleanly."
  namespace           = "SmartVault"
  metric_name         = "DrillsFailed"
  dimensions          = local.drill_dimensions
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.sns_topic_arn]
  ok_actions          = [var.sns_topic_arn]
}

# Overdue: the latest run's count holds until the next run reports (runs are weekly; missing data is ignored).
resource "aws_cloudwatch_metric_alarm" "drills_overdue" {
  alarm_name          = "${var.name_prefix}-drills-overdue"
  alarm_description   = "Instances in ${var.region} with a complete recovery point were not drilled within the rotation."
  namespace           = "SmartVault"
  metric_name         = "DrillOverdue"
  dimensions          = local.drill_dimensions
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "ignore"
  alarm_actions       = [var.sns_topic_arn]
  ok_actions          = [var.sns_topic_arn]
}

resource "aws_cloudwatch_metric_alarm" "drill_rto" {
  alarm_name          = "${var.name_prefix}-drill-rto"
  alarm_description   = "A passed drill in ${var.region} took more than ${var.rto_threshold_seconds} s to recover: recovery is getting slower."
  namespace           = "SmartVault"
  metric_name         = "DrillRtoSeconds"
  dimensions          = local.drill_dimensions
  statistic           = "Maximum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.rto_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.sns_topic_arn]
  ok_actions          = [var.sns_topic_arn]
}

# The drill function's Errors alarm is the function module's (main.tf).
