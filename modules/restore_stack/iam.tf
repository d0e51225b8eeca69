# Roles of the restore API and the worker: one policy document per concern, one statement per purpose.
# Restores may target this stack's region or the peer region. Everything the worker creates is tagged
# ManagedBy=smart-vault at creation, and it may attach, detach, delete, deregister or terminate only what
# carries it. Full-instance restores register a temporary AMI from managed snapshots only (the engine's
# statements, shared with the drill role, are modules/instance_restore_iam's).

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  regions    = [var.region, var.peer_region]

  ec2_arns = {
    for kind in ["instance", "volume", "security-group", "key-pair"] :
    kind => [for r in local.regions : "arn:${local.partition}:ec2:${r}:${local.account_id}:${kind}/*"]
  }
  snapshot_arns = [for r in local.regions : "arn:${local.partition}:ec2:${r}::snapshot/*"]
  image_arns    = [for r in local.regions : "arn:${local.partition}:ec2:${r}::image/*"]
  # With an allowlist, RunInstances may use only those subnets (whichever region they are in).
  subnet_arns = length(var.settings.allowed_subnet_ids) == 0 ? [
    for r in local.regions : "arn:${local.partition}:ec2:${r}:${local.account_id}:subnet/*"
    ] : flatten([
      for r in local.regions : [for s in var.settings.allowed_subnet_ids : "arn:${local.partition}:ec2:${r}:${local.account_id}:subnet/${s}"]
  ])

  managed_by_key   = "ManagedBy"
  managed_by_value = "smart-vault"

  # iam:PassRole is evaluated on the role, while ALLOWED_INSTANCE_PROFILE_ARNS lists instance profiles: the
  # role of each allowed profile is looked up (its name is the ARN's last segment, after any path), so the
  # two lists cannot disagree. Re-apply after changing the role inside an allowed profile.
  allowed_instance_profile_names = toset([
    for arn in var.settings.allowed_instance_profile_arns : element(split("/", arn), length(split("/", arn)) - 1)
  ])
  passable_role_arns = sort(distinct([for p in data.aws_iam_instance_profile.allowed : p.role_arn]))
}

data "aws_iam_instance_profile" "allowed" {
  for_each = local.allowed_instance_profile_names

  name = each.value
}

# ---------------------------------------------------------------- restore API

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
    resources = [module.restore_jobs.arn]
  }

  statement {
    sid       = "IdempotencyRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [module.idempotency.arn]
  }
}

data "aws_iam_policy_document" "restore_api_invoke" {
  statement {
    sid       = "StartWorkerAsynchronously"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.worker_function_arn]
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
    ec2-read = data.aws_iam_policy_document.restore_api_ec2_read.json
    tables   = data.aws_iam_policy_document.restore_api_tables.json
    invoke   = data.aws_iam_policy_document.restore_api_invoke.json
    drills   = data.aws_iam_policy_document.restore_api_drills.json
  }
}

# ---------------------------------------------------------------- restore worker

# The instance-restore engine's statements, shared with the drill role (modules/instance_restore_iam): find
# recovery points, register the temporary AMI, launch, tear down, read encrypted snapshots through EBS. The
# worker adds its volume restores, the subnets, groups and key pairs it may launch with, and instance profiles.
module "instance_restore_iam" {
  source = "../instance_restore_iam"

  regions          = local.regions
  ebs_kms_key_arns = var.ebs_kms_key_arns
  managed_by_tag   = { key = local.managed_by_key, value = local.managed_by_value }
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

  # The volumes CreateVolume creates are tagged at creation too, only with ManagedBy=smart-vault among the
  # tags (the AMI, the instance and its volumes: TagRestoredResourcesAtCreation of the engine's policy).
  statement {
    sid       = "TagCreatedVolumesAtCreation"
    actions   = ["ec2:CreateTags"]
    resources = local.ec2_arns["volume"]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["CreateVolume"]
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
}

data "aws_iam_policy_document" "restore_worker_data" {
  statement {
    sid       = "ReadAndUpdateRestoreJobs"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [module.restore_jobs.arn]
  }

  statement {
    sid       = "PublishRestoreResults"
    actions   = ["sns:Publish"]
    resources = [var.sns_topic_arn]
  }

  statement {
    sid       = "SendFailedRestoresToDlq"
    actions   = ["sqs:SendMessage"]
    resources = [module.restore_worker.dead_letter_queue_arn]
  }
}

locals {
  restore_worker_policies = {
    instance-restore = module.instance_restore_iam.json
    ec2-write        = data.aws_iam_policy_document.restore_worker_ec2_write.json
    data             = data.aws_iam_policy_document.restore_worker_data.json
  }
}

