# Roles of the restore API and the worker: one policy document per concern, one statement per purpose.
# Restores may target this stack's region or the peer region. Everything the worker creates is tagged
# ManagedBy=smart-vault at creation, and it may attach, detach, delete, deregister or terminate only what
# carries it. Full-instance restores register a temporary AMI from managed snapshots only.

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  regions    = [var.region, var.peer_region]

  ec2_arns = {
    for kind in ["instance", "volume", "network-interface", "security-group", "key-pair"] :
    kind => [for r in local.regions : "arn:${local.partition}:ec2:${r}:${local.account_id}:${kind}/*"]
  }
  snapshot_arns = [for r in local.regions : "arn:${local.partition}:ec2:${r}::snapshot/*"]
  image_arns    = [for r in local.regions : "arn:${local.partition}:ec2:${r}::image/*"]
  # With an allowlist, RunInstances may use only those subnets (whichever region they are in).
  subnet_arns = length(var.allowed_subnet_ids) == 0 ? [
    for r in local.regions : "arn:${local.partition}:ec2:${r}:${local.account_id}:subnet/*"
    ] : flatten([
      for r in local.regions : [for s in var.allowed_subnet_ids : "arn:${local.partition}:ec2:${r}:${local.account_id}:subnet/${s}"]
  ])

  managed_by_key   = "ManagedBy"
  managed_by_value = "smart-vault"

  ec2_via_service = [for r in local.regions : "ec2.${r}.amazonaws.com"]

  # iam:PassRole is evaluated on the role, while ALLOWED_INSTANCE_PROFILE_ARNS lists instance profiles: the
  # role of each allowed profile is looked up (its name is the ARN's last segment, after any path), so the
  # two lists cannot disagree. Re-apply after changing the role inside an allowed profile.
  allowed_instance_profile_names = toset([
    for arn in var.allowed_instance_profile_arns : element(split("/", arn), length(split("/", arn)) - 1)
  ])
  passable_role_arns = sort(distinct([for p in data.aws_iam_instance_profile.allowed : p.role_arn]))
}

data "aws_iam_instance_profile" "allowed" {
  for_each = local.allowed_instance_profile_names

  name = each.value
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssumesRole"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ---------------------------------------------------------------- restore API

resource "aws_iam_role" "restore_api" {
  name               = "${var.name_prefix}-restore-api"
  description        = "Smart Vault restore API function (${var.region}): pre-checks, job records, worker start."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "restore_api_logs" {
  statement {
    sid       = "WriteOwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.api_function.arn}:*"]
  }
}

data "aws_iam_policy_document" "restore_api_ec2_read" {
  statement {
    sid = "PreCheckSnapshotImageSubnet"
    # Describe calls support no resource-level permissions. Full-instance pre-checks also read the
    # recovery point (DescribeSnapshots with tag filters) and the security groups.
    actions = [
      "ec2:DescribeSnapshots",
      "ec2:DescribeImages",
      "ec2:DescribeSubnets",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeAvailabilityZones",
      "ec2:DescribeLockedSnapshots", # (v3) GET /recovery-points: locked_until, lock_mode, immutable
    ]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "restore_api_tables" {
  statement {
    sid       = "RecordRestoreJobs"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.restore_jobs.arn]
  }

  statement {
    sid       = "IdempotencyRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.idempotency.arn]
  }
}

data "aws_iam_policy_document" "restore_api_invoke" {
  statement {
    sid       = "StartWorkerAsynchronously"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.worker_function_arn]
  }
}

data "aws_iam_policy_document" "restore_api_kms" {
  statement {
    sid       = "UseStackKeyForTablesAndEnvironment"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com", "lambda.${var.region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "restore_api_drills" {
  # GET /drills: Query on this region's drill results table, when there is one.
  dynamic "statement" {
    for_each = var.drill_results_table_arn == null ? [] : [var.drill_results_table_arn]
    content {
      sid       = "ReadDrillResults"
      actions   = ["dynamodb:Query"]
      resources = [statement.value]
    }
  }
  # A policy document needs a statement even without a drill table: one that allows nothing.
  statement {
    sid       = "NoDrillTableOtherwise"
    effect    = "Deny"
    actions   = ["dynamodb:Scan"]
    resources = ["arn:${local.partition}:dynamodb:${var.region}:${local.account_id}:table/${var.name_prefix}-drill-results"]
  }
}

data "aws_iam_policy_document" "restore_api_changes" {
  # (v3) GET /recovery-points: one Query per volume of the backup's ledger (its change partitions).
  dynamic "statement" {
    for_each = var.change_ledger_table_arn == null ? [] : [var.change_ledger_table_arn]
    content {
      sid       = "ReadChangeMeasurements"
      actions   = ["dynamodb:Query"]
      resources = [statement.value]
    }
  }
  statement {
    sid       = "NoChangeLedgerOtherwise"
    effect    = "Deny"
    actions   = ["dynamodb:Scan"]
    resources = ["arn:${local.partition}:dynamodb:${var.region}:${local.account_id}:table/${var.name_prefix}-copy-ledger"]
  }
}

locals {
  restore_api_policies = {
    changes  = data.aws_iam_policy_document.restore_api_changes.json
    logs     = data.aws_iam_policy_document.restore_api_logs.json
    ec2-read = data.aws_iam_policy_document.restore_api_ec2_read.json
    tables   = data.aws_iam_policy_document.restore_api_tables.json
    invoke   = data.aws_iam_policy_document.restore_api_invoke.json
    kms      = data.aws_iam_policy_document.restore_api_kms.json
    drills   = data.aws_iam_policy_document.restore_api_drills.json
  }
}

resource "aws_iam_role_policy" "restore_api" {
  for_each = local.restore_api_policies

  name   = each.key
  role   = aws_iam_role.restore_api.id
  policy = each.value
}

resource "aws_iam_role_policy_attachment" "restore_api_xray" {
  role       = aws_iam_role.restore_api.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

# ---------------------------------------------------------------- restore worker

resource "aws_iam_role" "restore_worker" {
  name               = "${var.name_prefix}-restore-worker"
  description        = "Smart Vault restore worker (${var.region}): volumes and instances from managed snapshots."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "restore_worker_logs" {
  statement {
    sid       = "WriteOwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.worker_function.arn}:*"]
  }
}

data "aws_iam_policy_document" "restore_worker_ec2_read" {
  statement {
    sid = "WatchVolumesInstancesSnapshots"
    # Describe calls support no resource-level permissions.
    actions = [
      "ec2:DescribeVolumes",
      "ec2:DescribeInstances",
      "ec2:DescribeInstanceStatus",
      "ec2:DescribeSnapshots",
      "ec2:DescribeImages",
      "ec2:DescribeKeyPairs",
      "ec2:DescribeSubnets",
    ]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "restore_worker_ec2_write" {
  statement {
    sid       = "CreateVolumesOnlyTaggedManaged"
    actions   = ["ec2:CreateVolume"]
    resources = local.ec2_arns["volume"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  statement {
    sid       = "CreateVolumesOnlyFromManagedSnapshots"
    actions   = ["ec2:CreateVolume"]
    resources = local.snapshot_arns
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  # The instance resource of RunInstances takes both the request tags and the metadata options: the worker
  # launches only tagged instances, and only with IMDSv2 required (as the code always asks).
  statement {
    sid       = "LaunchInstancesOnlyTaggedManaged"
    actions   = ["ec2:RunInstances"]
    resources = local.ec2_arns["instance"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
    condition {
      test     = "StringEquals"
      variable = "ec2:MetadataHttpTokens"
      values   = ["required"]
    }
  }

  # The root volume and network interface RunInstances creates belong to the (managed) instance and go
  # with it; when the request tags them too, the tag must be ManagedBy=smart-vault.
  statement {
    sid       = "LaunchWithInstanceVolumesAndInterfaces"
    actions   = ["ec2:RunInstances"]
    resources = concat(local.ec2_arns["volume"], local.ec2_arns["network-interface"])
    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:RequestTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  # RunInstances also authorizes the resources it only reads. They cannot carry request tags, so these
  # are limited by ARN instead: the allowed subnets (when listed), the image and its snapshots, the
  # security groups and the key pair (a full-instance restore launches with the recorded one).
  statement {
    sid     = "LaunchFromImagesIntoSubnets"
    actions = ["ec2:RunInstances"]
    resources = concat(
      local.image_arns, local.snapshot_arns, local.subnet_arns, local.ec2_arns["security-group"],
      local.ec2_arns["key-pair"],
    )
  }

  # A full-instance restore without ami_id registers a temporary AMI from the recovery point: the AMI is
  # tagged managed at creation (the image resource of RegisterImage evaluates aws:RequestTag; the tags
  # themselves are authorized by TagRestoredResourcesAtCreation), and its block devices may only be the
  # vault's snapshots (the snapshot resource evaluates ec2:ResourceTag).
  statement {
    sid       = "RegisterImagesOnlyTaggedManaged"
    actions   = ["ec2:RegisterImage"]
    resources = local.image_arns
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  statement {
    sid       = "RegisterImagesOnlyFromManagedSnapshots"
    actions   = ["ec2:RegisterImage"]
    resources = local.snapshot_arns
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  # Deregistering leaves the snapshots behind it alone (they are the vault's recovery point).
  statement {
    sid       = "DeregisterOnlyManagedImages"
    actions   = ["ec2:DeregisterImage"]
    resources = local.image_arns
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  # Tags only at creation, only what the worker creates tagged (volumes of CreateVolume and RunInstances,
  # the instance, the temporary AMI; never a network interface, which it does not tag), and only with
  # ManagedBy=smart-vault among them: an untagged-managed resource is one the worker could not clean up.
  statement {
    sid       = "TagRestoredResourcesAtCreation"
    actions   = ["ec2:CreateTags"]
    resources = concat(local.ec2_arns["volume"], local.ec2_arns["instance"], local.image_arns)
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateVolume", "RunInstances", "RegisterImage"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  # The recorded instance profile is attached only when it is allowed: only those profiles' roles may be
  # passed, and only to EC2. No statement at all when no profile is allowed.
  dynamic "statement" {
    for_each = length(local.passable_role_arns) > 0 ? [1] : []
    content {
      sid       = "PassOnlyAllowedInstanceProfileRolesToEc2"
      actions   = ["iam:PassRole"]
      resources = local.passable_role_arns
      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["ec2.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "AttachOnlyManagedVolumesToManagedInstances"
    actions   = ["ec2:AttachVolume", "ec2:DetachVolume"]
    resources = concat(local.ec2_arns["volume"], local.ec2_arns["instance"])
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  statement {
    sid       = "CleanUpOnlyManagedVolumes"
    actions   = ["ec2:DeleteVolume"]
    resources = local.ec2_arns["volume"]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  statement {
    sid       = "CleanUpOnlyManagedInstances"
    actions   = ["ec2:TerminateInstances"]
    resources = local.ec2_arns["instance"]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }
}

data "aws_iam_policy_document" "restore_worker_data" {
  statement {
    sid       = "ReadAndUpdateRestoreJobs"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.restore_jobs.arn]
  }

  statement {
    sid       = "PublishRestoreResults"
    actions   = ["sns:Publish"]
    resources = [var.sns_topic_arn]
  }

  statement {
    sid       = "SendFailedRestoresToDlq"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.worker_dlq.arn]
  }
}

data "aws_iam_policy_document" "restore_worker_kms" {
  # EBS decrypts the snapshot and encrypts the new volume with the snapshot's key on the worker's behalf.
  statement {
    sid = "ReadEncryptedSnapshotsThroughEbs"
    actions = [
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:DescribeKey",
    ]
    resources = var.ebs_kms_key_arns
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.ec2_via_service
    }
  }

  statement {
    sid       = "LetEbsHoldGrantForRestoredVolumes"
    actions   = ["kms:CreateGrant"]
    resources = var.ebs_kms_key_arns
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.ec2_via_service
    }
  }

  statement {
    sid       = "UseStackKeyForTableTopicQueueAndEnvironment"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "dynamodb.${var.region}.amazonaws.com",
        "sns.${var.region}.amazonaws.com",
        "sqs.${var.region}.amazonaws.com",
        "lambda.${var.region}.amazonaws.com",
      ]
    }
  }
}

locals {
  restore_worker_policies = {
    logs      = data.aws_iam_policy_document.restore_worker_logs.json
    ec2-read  = data.aws_iam_policy_document.restore_worker_ec2_read.json
    ec2-write = data.aws_iam_policy_document.restore_worker_ec2_write.json
    data      = data.aws_iam_policy_document.restore_worker_data.json
    kms       = data.aws_iam_policy_document.restore_worker_kms.json
  }
}

resource "aws_iam_role_policy" "restore_worker" {
  for_each = local.restore_worker_policies

  name   = each.key
  role   = aws_iam_role.restore_worker.id
  policy = each.value
}

resource "aws_iam_role_policy_attachment" "restore_worker_xray" {
  role       = aws_iam_role.restore_worker.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}
