# (v2) Restore drills: a drill function in the DR region (and, with drill_regions, in the primary) proves
# every protected instance restorable on a schedule, in an isolated network, with its recovery time measured.
# The restore stack of the same region reads the drill results for GET /drills.

locals {
  drill_regions  = var.drill_regions == null ? [var.dr_region] : var.drill_regions
  drill_in_dr    = contains(local.drill_regions, var.dr_region)
  drill_in_prime = contains(local.drill_regions, var.primary_region)

  # The drill_* variables, the same in every drill region (modules/drill_stack's `settings`).
  drill_settings = {
    schedule_expression      = var.drill_schedule
    vpc_cidr                 = var.drill_vpc_cidr
    max_instances            = var.drill_max_instances
    rotation_days            = var.drill_rotation_days
    instance_type            = var.drill_instance_type
    timeout_seconds          = var.drill_timeout_seconds
    rto_threshold_seconds    = var.drill_rto_threshold_seconds
    subnet_ids               = var.drill_subnet_ids
    security_group_ids       = var.drill_security_group_ids
    validation_function_arns = var.drill_validation_function_arns
    log_retention_days       = var.log_retention_days
  }
}

module "drill_dr" {
  source = "./modules/drill_stack"
  count  = local.drill_in_dr ? 1 : 0

  providers = {
    aws = aws.dr
  }

  name_prefix      = "${var.name_prefix}-dr"
  region           = var.dr_region
  kms_key_arn      = aws_kms_key.dr.arn
  ebs_kms_key_arns = concat([aws_kms_key.dr.arn], var.source_volume_kms_key_arns)
  sns_topic_arn    = aws_sns_topic.dr_notifications.arn
  function_code    = local.function_code[var.dr_region]
  drill_handler    = local.handlers.drill
  settings         = local.drill_settings
}

module "drill_primary" {
  source = "./modules/drill_stack"
  count  = local.drill_in_prime ? 1 : 0

  name_prefix      = var.name_prefix
  region           = var.primary_region
  kms_key_arn      = aws_kms_key.primary.arn
  ebs_kms_key_arns = concat([aws_kms_key.primary.arn], var.source_volume_kms_key_arns)
  sns_topic_arn    = aws_sns_topic.notifications.arn
  function_code    = local.function_code[var.primary_region]
  drill_handler    = local.handlers.drill
  settings         = local.drill_settings
}

# The vault's health on one page, in the primary region (each widget names the region of its metrics).
locals {
  dashboard_regions = local.regions
  dashboard_widgets = concat(
    [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Recovery-point age (h), per region"
          region = var.primary_region
          stat   = "Maximum"
          period = 3600
          view   = "timeSeries"
          # The backup function (primary region) emits the age of both regions, with dimension Region.
          metrics = concat(
            [for r in local.dashboard_regions : ["SmartVault", "RecoveryPointAgeSeconds", "Region", r, { id = "s_${replace(r, "-", "_")}", visible = false }]],
            [for r in local.dashboard_regions : [{ expression = "s_${replace(r, "-", "_")} / 3600", label = r, id = "h_${replace(r, "-", "_")}" }]],
          )
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "DR copy backlog: copies owed, oldest owed (s)"
          region = var.primary_region
          stat   = "Maximum"
          period = 3600
          view   = "timeSeries"
          metrics = [
            ["SmartVault", "CopyBacklog", "service", "smart-vault"],
            ["SmartVault", "OldestOwedCopySeconds", "service", "smart-vault", { yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "Backup failures"
          region  = var.primary_region
          stat    = "Sum"
          period  = 3600
          view    = "timeSeries"
          metrics = [["SmartVault", "BackupFailures", "service", "smart-vault"]]
        }
      },
    ],
    [
      for i, r in local.drill_regions : {
        type = "metric", x = 12 * (i % 2), y = 6 + 12 * floor(i / 2), width = 12, height = 6
        properties = {
          title  = "Drills in ${r}: passed, failed, overdue, leftovers, swept"
          region = r
          stat   = "Sum"
          period = 86400
          view   = "timeSeries"
          metrics = [
            ["SmartVault", "DrillsPassed", "Region", r, { color = "#2ca02c" }],
            ["SmartVault", "DrillsFailed", "Region", r, { color = "#d62728" }],
            ["SmartVault", "DrillOverdue", "Region", r, { stat = "Maximum" }],
            ["SmartVault", "DrillLeftovers", "Region", r],
            ["SmartVault", "DrillLeftoversSwept", "Region", r],
          ]
        }
      }
    ],
    [
      for i, r in local.drill_regions : {
        type = "metric", x = 12 * (i % 2), y = 18 + 6 * floor(i / 2), width = 12, height = 6
        properties = {
          title  = "Drill RTO (s) in ${r}: p50 and worst"
          region = r
          period = 86400
          view   = "timeSeries"
          metrics = [
            ["SmartVault", "DrillRtoSeconds", "Region", r, { stat = "p50", label = "p50" }],
            ["SmartVault", "DrillRtoSeconds", "Region", r, { stat = "Maximum", label = "worst" }],
          ]
          annotations = { horizontal = [{ label = "alarm", value = var.drill_rto_threshold_seconds }] }
        }
      }
    ],
  )
}

resource "aws_cloudwatch_dashboard" "health" {
  dashboard_name = "${var.name_prefix}-health"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
