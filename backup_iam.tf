# The backup function's role: one policy document per concern, one statement per purpose. EC2 mutations
# are tied to the ManagedBy=smart-vault tag: snapshots are created and copied only with that tag in the
# request, tagged later only when already managed, and deleted only when managed, so a bug cannot touch
# snapshots the vault does not own.

locals {
  ec2_arn_prefix = { for r in local.regions : r => "arn:${local.partition}:ec2:${r}:${local.account_id}" }

  primary_snapshots   = "arn:${local.partition}:ec2:${var.primary_region}::snapshot/*"
  dr_snapshots        = "arn:${local.partition}:ec2:${var.dr_region}::snapshot/*"
  backup_function_arn = "arn:${local.partition}:lambda:${var.primary_region}:${local.account_id}:function:${local.backup_function_name}"
}

data "aws_iam_policy_document" "backup_ec2_read" {
  statement {
    sid = "DescribeInstancesVolumesSnapshots"
    # Describe calls support no resource-level permissions.
    actions = [
      "ec2:DescribeInstances",
      "ec2:DescribeVolumes",
      "ec2:DescribeSnapshots",
      "ec2:DescribeTags",
    ]
    resources = ["*"]
  }
}

# (v3) Pruning lists the snapshot locks of each region once per run: a locked snapshot is never a pruning
# candidate. DescribeLockedSnapshots supports no resource-level permissions.
data "aws_iam_policy_document" "backup_snapshot_locks" {
  statement {
    sid       = "ListSnapshotLocksForPruning"
    actions   = ["ec2:DescribeLockedSnapshots"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "backup_snapshots" {
  statement {
    sid       = "CreateSnapshotSetsOnlyTaggedManaged"
    actions   = ["ec2:CreateSnapshots"]
    resources = [local.primary_snapshots]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.managed_by_tag.key}"
      values   = [local.managed_by_tag.value]
    }
  }

  # CreateSnapshots also authorizes the source instance and its volumes, which it only reads. The
  # Service Authorization Reference lists no request-tag key for either (the tags are for the snapshots),
  # so a request-tag condition here could never refuse anything: the region is what limits them.
  statement {
    sid     = "SnapshotSourceInstancesAndVolumes"
    actions = ["ec2:CreateSnapshots"]
    resources = [
      "${local.ec2_arn_prefix[var.primary_region]}:instance/*",
      "${local.ec2_arn_prefix[var.primary_region]}:volume/*",
    ]
  }

  statement {
    sid       = "TagSnapshotsAtCreation"
    actions   = ["ec2:CreateTags"]
    resources = [local.primary_snapshots, local.dr_snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateSnapshots", "CopySnapshot"]
    }
  }

  # CreateSnapshots tags a whole set alike; the per-volume tags are added right after, on managed
  # snapshots only, and only tags in the vault's own namespace.
  statement {
    sid       = "TagManagedSnapshotsPerVolume"
    actions   = ["ec2:CreateTags"]
    resources = [local.primary_snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_tag.key}"
      values   = [local.managed_by_tag.value]
    }
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["smart-vault:*", "Name"]
    }
  }

  # CopySnapshot authorizes both the new snapshot and the source snapshot (the 2024 change of EBS
  # resource-level permissions; the Service Authorization Reference: "apply to both the snapshot copy and the
  # source snapshot"). The new one: created in the DR region only, tagged ManagedBy=smart-vault in the
  # request, and encrypted (the DR key is the only key this role may use for EBS in the DR region, see
  # EncryptDrCopiesWithDrKey).
  statement {
    sid       = "CreateDrCopiesOnlyTaggedManagedAndEncrypted"
    actions   = ["ec2:CopySnapshot"]
    resources = [local.dr_snapshots]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.managed_by_tag.key}"
      values   = [local.managed_by_tag.value]
    }
    condition {
      test     = "Bool"
      variable = "ec2:Encrypted"
      values   = ["true"]
    }
  }

  # The source: a snapshot of this account in the primary region. It may be unencrypted (a volume without
  # encryption), and the reference lists no resource-tag key for CopySnapshot's snapshot, so its region and
  # its owner are what limit it: a snapshot shared from another account cannot be copied.
  statement {
    sid       = "CopyOnlyOwnPrimarySnapshots"
    actions   = ["ec2:CopySnapshot"]
    resources = [local.primary_snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:Owner"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DeleteOnlyManagedSnapshots"
    actions   = ["ec2:DeleteSnapshot"]
    resources = [local.primary_snapshots, local.dr_snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_tag.key}"
      values   = [local.managed_by_tag.value]
    }
  }
}

data "aws_iam_policy_document" "backup_kms" {
  # EBS encrypts every DR copy with the DR key (DR_KMS_KEY_ID) on the function's behalf. The grants EBS
  # holds are limited by kms:ViaService, which already means "EBS, for a volume or snapshot": the key
  # policy keeps kms:GrantIsForAWSResource (kms.tf), which the role's statements would only repeat.
  statement {
    sid       = "EncryptDrCopiesWithDrKey"
    actions   = local.key_use_actions # kms.tf
    resources = [aws_kms_key.dr.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${var.dr_region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "LetEbsHoldGrantOnDrKey"
    actions   = ["kms:CreateGrant"]
    resources = [aws_kms_key.dr.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${var.dr_region}.amazonaws.com"]
    }
  }

  dynamic "statement" {
    for_each = length(var.source_volume_kms_key_arns) > 0 ? [1] : []
    content {
      sid = "ReadSourceSnapshotsForCopy"
      actions = [
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:DescribeKey",
      ]
      resources = var.source_volume_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [for r in local.regions : "ec2.${r}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.source_volume_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "LetEbsHoldGrantOnSourceKeys"
      actions   = ["kms:CreateGrant"]
      resources = var.source_volume_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [for r in local.regions : "ec2.${r}.amazonaws.com"]
      }
    }
  }

  # The copy ledger is encrypted with the primary key: DynamoDB decrypts the table key with the caller's
  # permissions on each read and write ("How Amazon DynamoDB uses AWS KMS"), for this table only.
  statement {
    sid       = "UsePrimaryKeyForCopyLedger"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.primary.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.primary_region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:dynamodb:tableName"
      values   = [module.copy_ledger.name]
    }
  }

  # The topic, the dead-letter queue and the environment variables are encrypted with the primary key.
  statement {
    sid       = "UsePrimaryKeyForTopicQueueAndEnvironment"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = [aws_kms_key.primary.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "sns.${var.primary_region}.amazonaws.com",
        "sqs.${var.primary_region}.amazonaws.com",
        "lambda.${var.primary_region}.amazonaws.com",
      ]
    }
  }
}

data "aws_iam_policy_document" "backup_messaging" {
  statement {
    sid       = "PublishRunReports"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }

  statement {
    sid       = "SendFailedEventsToDlq"
    actions   = ["sqs:SendMessage"]
    resources = [module.backup.dead_letter_queue_arn]
  }

  # A run that would outlast the timeout hands the rest to a new asynchronous invocation of itself, through
  # the ARN it was invoked with (qualified when a version or alias was invoked).
  statement {
    sid       = "ContinueLargeRunsAsynchronously"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.backup_function_arn, "${local.backup_function_arn}:*"]
  }
}

# (v3) Change-rate anomalies. ListChangedBlocks / ListSnapshotBlocks authorize the snapshot resource
# (arn:...:ec2:<region>::snapshot/<id>, both snapshots of a ListChangedBlocks), whose only condition key is
# aws:ResourceTag/${TagKey} (Service Authorization Reference, Amazon Elastic Block Store): only the vault's own
# primary snapshots may be measured. The lists return block indexes and tokens, not data, but the EBS direct
# API decrypts an encrypted snapshot's metadata with its key through EBS: kms:Decrypt via ebs.<region>.
data "aws_iam_policy_document" "backup_change_rate" {
  statement {
    sid       = "MeasureChangedBlocksOfManagedSnapshots"
    actions   = ["ebs:ListChangedBlocks", "ebs:ListSnapshotBlocks"]
    resources = [local.primary_snapshots]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.managed_by_tag.key}"
      values   = [local.managed_by_tag.value]
    }
  }

  # A suspect recovery point is marked, and the last clean one held, in the DR region too: only those two
  # tags, only on managed copies (the primary region's are covered by TagManagedSnapshotsPerVolume).
  statement {
    sid       = "MarkSuspectAndHeldDrCopies"
    actions   = ["ec2:CreateTags"]
    resources = [local.dr_snapshots]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_tag.key}"
      values   = [local.managed_by_tag.value]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["smart-vault:suspect", "smart-vault:hold"]
    }
  }

  dynamic "statement" {
    for_each = length(var.source_volume_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "ReadEncryptedSnapshotBlocksThroughEbs"
      actions   = ["kms:Decrypt"]
      resources = var.source_volume_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ebs.${var.primary_region}.amazonaws.com"]
      }
    }
  }
}

data "aws_iam_policy_document" "backup_ledger" {
  statement {
    sid = "ClaimCopiesInLedger"
    # Query: the owed-copy queue (one partition of the table; the table has no index to grant).
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query"]
    resources = [module.copy_ledger.arn]
  }
}

# (v3) Application-consistent sets: the pre- and post-scripts of instances tagged Backup-Scripts run through
# Systems Manager Run Command. SendCommand authorizes the document and each target instance (Service
# Authorization Reference, AWS Systems Manager): the document only when it carries smart-vault:scripts=true
# (aws:ResourceTag on the document, as AWS's managed policy for DLM's scripts does with DLMScriptsAccess), the
# instance only when it carries the backup tag (ssm:resourceTag, the key Systems Manager's guide uses for EC2
# instances in Run Command; the reference lists aws:ResourceTag and ssm:resourceTag for SendCommand at the
# action level, each read from the resource's own tags). The polls and the agent check support no
# resource-level permissions.
data "aws_iam_policy_document" "backup_scripts" {
  statement {
    sid       = "RunScriptsOnlyFromTaggedDocuments"
    actions   = ["ssm:SendCommand"]
    resources = ["arn:${local.partition}:ssm:${var.primary_region}:${local.account_id}:document/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.scripts_document_tag.key}"
      values   = [local.scripts_document_tag.value]
    }
  }

  statement {
    sid       = "RunScriptsOnlyOnBackedUpInstances"
    actions   = ["ssm:SendCommand"]
    resources = ["${local.ec2_arn_prefix[var.primary_region]}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "ssm:resourceTag/${var.backup_tag_key}"
      values   = var.backup_tag_values
    }
  }

  statement {
    sid       = "FollowScriptsAndCheckAgents"
    actions   = ["ssm:ListCommandInvocations", "ssm:DescribeInstanceInformation"]
    resources = ["*"]
  }
}

locals {
  # The tag an SSM document needs before the backup function may run it (docs/app-consistent.md).
  scripts_document_tag = { key = "smart-vault:scripts", value = "true" }

  backup_policies = {
    ledger    = data.aws_iam_policy_document.backup_ledger.json
    ec2-read  = data.aws_iam_policy_document.backup_ec2_read.json
    snapshots = data.aws_iam_policy_document.backup_snapshots.json
    kms       = data.aws_iam_policy_document.backup_kms.json
    messaging = data.aws_iam_policy_document.backup_messaging.json
    locks     = data.aws_iam_policy_document.backup_snapshot_locks.json
    changes   = data.aws_iam_policy_document.backup_change_rate.json
    vault     = data.aws_iam_policy_document.backup_vault.json # backup_vault_iam.tf
    scripts   = data.aws_iam_policy_document.backup_scripts.json
  }
}
