# A Recycle Bin retention rule, in the provider's region and account, for the EBS snapshots tagged
# ManagedBy=smart-vault: a deleted one stays `retention_days` in the bin, from where it can be restored. No
# rule when `retention_days` is 0. With `unlock_delay_days` the rule is locked: it cannot be deleted or
# shortened before that delay has run after an UnlockRule.

resource "aws_rbin_rule" "this" {
  count = var.retention_days > 0 ? 1 : 0

  description   = var.description
  resource_type = "EBS_SNAPSHOT"

  resource_tags {
    resource_tag_key   = "ManagedBy"
    resource_tag_value = "smart-vault"
  }

  retention_period {
    retention_period_value = var.retention_days
    retention_period_unit  = "DAYS"
  }

  dynamic "lock_configuration" {
    for_each = var.unlock_delay_days == null ? [] : [var.unlock_delay_days]
    content {
      unlock_delay {
        unlock_delay_value = lock_configuration.value
        unlock_delay_unit  = "DAYS"
      }
    }
  }
}
