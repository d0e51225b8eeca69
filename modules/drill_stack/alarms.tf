# Drill alarms, to this region's topic. The drill metrics carry the dimension Region only
# (smart_vault.drill.entry.emit_metrics), so the alarms name exactly that.

locals {
  drill_dimensions = { Region = var.region }
}

module "drills_failed" {
  source = "../alarm"

  name               = "${var.name_prefix}-drills-failed"
  description        = "A restore drill in ${var.region} failed: a recovery point did not restore, pass its checks or tear down cleanly."
  namespace          = "SmartVault"
  metric             = "DrillsFailed"
  dimensions         = local.drill_dimensions
  statistic          = "Sum"
  period             = 3600
  threshold          = 0
  treat_missing_data = "notBreaching"
  topic_arn          = var.sns_topic_arn
  notify_ok          = true
}

# Overdue: the latest run's count holds until the next run reports (runs are weekly; missing data is ignored).
module "drills_overdue" {
  source = "../alarm"

  name               = "${var.name_prefix}-drills-overdue"
  description        = "Instances in ${var.region} with a complete recovery point were not drilled within the rotation."
  namespace          = "SmartVault"
  metric             = "DrillOverdue"
  dimensions         = local.drill_dimensions
  statistic          = "Maximum"
  period             = 3600
  threshold          = 0
  treat_missing_data = "ignore"
  topic_arn          = var.sns_topic_arn
  notify_ok          = true
}

module "drill_rto" {
  source = "../alarm"

  name               = "${var.name_prefix}-drill-rto"
  description        = "A passed drill in ${var.region} took more than ${var.settings.rto_threshold_seconds} s to recover: recovery is getting slower."
  namespace          = "SmartVault"
  metric             = "DrillRtoSeconds"
  dimensions         = local.drill_dimensions
  statistic          = "Maximum"
  period             = 3600
  threshold          = var.settings.rto_threshold_seconds
  treat_missing_data = "notBreaching"
  topic_arn          = var.sns_topic_arn
  notify_ok          = true
}

# The drill function's Errors alarm is the function module's (main.tf).
