# Drill alarms, to this region's topic. The drill metrics carry the dimension Region only
# (smart_vault.drill.entry.emit_metrics), so the alarms name exactly that.

locals {
  drill_dimensions = { Region = var.region }
}

# Counts that alarm at the first one: failed drills, and leftovers (what a drill's teardown, or the sweep of
# what earlier drills left, smart_vault.drill.sweep, could not remove). A drill with leftovers also fails; the
# sweep's failures fail no drill, and each later run tries again and counts them again while they stay.
module "drill_counts" {
  source = "../alarm"
  for_each = {
    drills-failed = {
      metric      = "DrillsFailed"
      description = "A restore drill in ${var.region} failed: a recovery point did not restore, pass its checks or tear down cleanly."
    }
    drill-leftovers = {
      metric      = "DrillLeftovers"
      description = "Resources of restore drills in ${var.region} could not be removed (a teardown, or the sweep of an earlier drill's leftovers, failed): they cost until removed. Find them by their smart-vault:drill-id tag."
    }
  }

  name               = "${var.name_prefix}-${each.key}"
  description        = each.value.description
  namespace          = "SmartVault"
  metric             = each.value.metric
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
