# The vault function's role: copy shared snapshots into the vault under the vault key (tagged at creation),
# lock and prune its own copies, keep its ledger, publish its reports. One document per concern.

data "aws_iam_policy_document" "vault_ec2_read" {
  statement {
    sid       = "DescribeSnapshotsAndLocks"
    actions   = ["ec2:DescribeSnapshots", "ec2:DescribeLockedSnapshots"] # no resource-level permissions
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "vault_snapshots" {
  # CopySnapshot authorizes the new snapshot (tagged ManagedBy in the request, encrypted) and its source
  # (a workload account's shared snapshot: snapshot ARNs carry no account, so the region bounds it).
  # The source: a snapshot one of the source accounts owns and shared with the vault (request tags reach
  # only the new snapshot, and the Service Authorization Reference lists no ec2:ResourceTag key for
  # CopySnapshot's snapshot, so the source is bounded by its owner; its createVolumePermission is the
  # owner's side of the cross-account request).
  statement {
    sid       = "CopyOnlySnapshotsOfTheSourceAccounts"
    actions   = ["ec2:CopySnapshot"]
    resources = [local.snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:Owner"
      values   = var.source_account_ids
    }
  }

  statement {
    sid       = "CopyIntoTheVaultOnlyTaggedManagedAndEncrypted"
    actions   = ["ec2:CopySnapshot"]
    resources = [local.snapshots]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/ManagedBy"
      values   = ["smart-vault"]
    }
    condition {
      test     = "Bool"
      variable = "ec2:Encrypted"
      values   = ["true"]
    }
  }

  statement {
    sid       = "TagCopiesAtCreation"
    actions   = ["ec2:CreateTags"]
    resources = [local.snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CopySnapshot"]
    }
  }

  statement {
    sid       = "LockOwnCopiesWithinRetention"
    actions   = ["ec2:LockSnapshot"]
    resources = [local.snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/ManagedBy"
      values   = ["smart-vault"]
    }
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
    sid       = "DeleteOnlyOwnManagedCopies"
    actions   = ["ec2:DeleteSnapshot"]
    resources = [local.snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/ManagedBy"
      values   = ["smart-vault"]
    }
  }
}

data "aws_iam_policy_document" "vault_kms" {
  # The vault key's own policy names this role for EBS, its ledger and its topic (main.tf `vault_key`):
  # within the account that suffices, so no identity statement repeats it. The workload accounts' DR keys
  # are another account's: their key policies grant the vault account, and these statements the role.
  # Reading a shared snapshot means using the workload's DR key through EBS (its key policy grants the
  # vault account the same actions: the EBS user guide's list for a shared snapshot's key, kms.tf).
  statement {
    sid       = "ReadSharedSnapshotsWithTheSourceKeys"
    actions   = ["kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"]
    resources = var.source_kms_key_arns
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${var.region}.amazonaws.com"]
    }
  }

  # The grant EBS holds is limited by kms:ViaService, which already means "EBS, for a volume or
  # snapshot": the DR key's policy keeps kms:GrantIsForAWSResource (kms.tf), which the role's statement
  # would only repeat (as backup_iam.tf does for the DR key).
  statement {
    sid       = "GrantEbsTheSourceKeys"
    actions   = ["kms:CreateGrant"]
    resources = var.source_kms_key_arns
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${var.region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "vault_ledger" {
  statement {
    sid       = "OwnLedgerOnly"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"]
    resources = [module.ledger.arn]
  }
}

data "aws_iam_policy_document" "vault_messaging" {
  statement {
    sid       = "PublishReports"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.vault.arn]
  }

  # Lambda delivers a failed asynchronous invocation's record to the on-failure destination with the
  # function's role (the key policy lets the role encrypt it through sqs.<region>).
  statement {
    sid       = "SendFailedInvocationsToOwnDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [module.vault.dead_letter_queue_arn]
  }
}

locals {
  vault_policies = {
    ec2-read  = data.aws_iam_policy_document.vault_ec2_read.json
    snapshots = data.aws_iam_policy_document.vault_snapshots.json
    kms       = data.aws_iam_policy_document.vault_kms.json
    ledger    = data.aws_iam_policy_document.vault_ledger.json
    messaging = data.aws_iam_policy_document.vault_messaging.json
  }
}
