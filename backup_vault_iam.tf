# (v3) What the backup function needs for Snapshot Lock and the vault account: lock managed snapshots (with
# the lock's duration and cooling-off bounded by the condition keys the Service Authorization Reference lists
# for LockSnapshot), list its locks, share DR copies with the vault account only, and announce them on the
# vault's event bus only.

locals {
  # Without a vault account the announcement statement names a bus that does not exist: it grants nothing.
  vault_bus_arn       = local.vault_event_bus_arn != "" ? local.vault_event_bus_arn : "arn:${local.partition}:events:${var.dr_region}:${local.account_id}:event-bus/${var.name_prefix}-no-vault"
  vault_share_account = var.vault_account_id != "" ? var.vault_account_id : local.account_id
}

data "aws_iam_policy_document" "backup_vault" {
  statement {
    sid       = "LockManagedSnapshotsWithinRetention"
    actions   = ["ec2:LockSnapshot"]
    resources = [local.primary_snapshots, local.dr_snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_tag.key}"
      values   = [local.managed_by_tag.value]
    }
    # ExpirationDate locks carry the duration they amount to; never longer than the longest retention.
    condition {
      test     = "NumericLessThanEqualsIfExists"
      variable = "ec2:SnapshotLockDuration"
      values   = ["3650"]
    }
    condition {
      test     = "NumericLessThanEqualsIfExists"
      variable = "ec2:SnapshotCoolOffPeriod"
      values   = [tostring(var.lock_cool_off_hours)]
    }
  }

  statement {
    sid       = "ShareManagedDrCopiesWithTheVaultAccountOnly"
    actions   = ["ec2:ModifySnapshotAttribute"]
    resources = [local.dr_snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_tag.key}"
      values   = [local.managed_by_tag.value]
    }
    condition {
      test     = "StringEquals"
      variable = "ec2:Attribute"
      values   = ["createVolumePermission"]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "ec2:Add/userId"
      values   = [local.vault_share_account]
    }
    condition {
      test     = "Null"
      variable = "ec2:Add/group"
      values   = ["true"]
    }
  }

  statement {
    sid       = "AnnounceOnTheVaultBus"
    actions   = ["events:PutEvents"]
    resources = [local.vault_bus_arn]
    condition {
      test     = "StringEquals"
      variable = "events:source"
      values   = ["smart-vault"]
    }
  }
}
