# A Recycle Bin retention rule for EBS snapshots, in the provider's region and account: a deleted snapshot stays
# `retention_days` in the bin, from where it can be restored. No rule when `retention_days` is 0.
#
# Unlocked (unlock_delay_days null), the rule is tag-level: only the snapshots tagged ManagedBy=smart-vault,
# in an account that holds other snapshots too. Locked, it is Region-level: Recycle Bin locks only Region-level
# rules without exclusion tags (LockRule and CreateRule refuse a lock on a tag-level rule), so a locked rule
# keeps every snapshot of the region. That is for an account that holds nothing else, as the vault account
# does. A locked rule cannot be modified or deleted until its unlock delay has run after an UnlockRule: its
# description names no setting, so that only a change of the retention itself needs the unlock.

resource "aws_rbin_rule" "this" {
  count = var.retention_days > 0 ? 1 : 0

  description   = var.description
  resource_type = "EBS_SNAPSHOT"

  dynamic "resource_tags" {
    for_each = var.unlock_delay_days == null ? ["tag-level"] : []
    content {
      resource_tag_key   = "ManagedBy"
      resource_tag_value = "smart-vault"
    }
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
