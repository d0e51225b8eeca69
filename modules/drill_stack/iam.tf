# The drill role: the EC2 calls of a full-instance restore from a temporary AMI (smart_vault.restore.instance,
# the statements modules/instance_restore_iam writes for the worker and the drill alike), limited to this
# region and to what carries ManagedBy=smart-vault; RunInstances only into the drill subnet and groups; Invoke
# only on the validation function; its own table, topic and log group.

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  managed_by_key   = "ManagedBy"
  managed_by_value = "smart-vault"

  # Named as in the restore stack, so the same least-privilege tests read both (tests/terraform).
  ec2_arns = merge(
    {
      for kind in ["instance", "volume", "key-pair"] :
      kind => ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:${kind}/*"]
    },
    {
      "security-group" = [
        for g in local.security_group_ids : "arn:${local.partition}:ec2:${var.region}:${local.account_id}:security-group/${g}"
      ]
    },
  )
  image_arns    = ["arn:${local.partition}:ec2:${var.region}::image/*"]
  snapshot_arns = ["arn:${local.partition}:ec2:${var.region}::snapshot/*"]
  subnet_arns   = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:subnet/${local.subnet_id}"]
}

# The instance-restore engine's statements, shared with the restore worker (modules/instance_restore_iam):
# find recovery points, register the temporary AMI, launch, tear down, read encrypted snapshots through EBS.
# The drill adds the isolated network it launches into and the teardown of what it attached.
module "instance_restore_iam" {
  source = "../instance_restore_iam"

  regions          = [var.region]
  ebs_kms_key_arns = var.ebs_kms_key_arns
  managed_by_tag   = { key = local.managed_by_key, value = local.managed_by_value }
}

data "aws_iam_policy_document" "drill_ec2_write" {
  # RunInstances also authorizes what it only reads: the temporary AMI and its snapshots (both managed).
  statement {
    sid       = "LaunchOnlyFromManagedImagesAndSnapshots"
    actions   = ["ec2:RunInstances"]
    resources = concat(local.image_arns, local.snapshot_arns)
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  # ... and the network and key pair it uses: only the drill subnet and the drill groups.
  statement {
    sid       = "LaunchOnlyIntoTheDrillNetwork"
    actions   = ["ec2:RunInstances"]
    resources = concat(local.subnet_arns, local.ec2_arns["key-pair"], local.ec2_arns["security-group"])
  }

  # DetachVolume authorizes the volume and the instance (DeleteVolume, only the volume, is the engine's).
  statement {
    sid       = "DetachOnlyManagedVolumesFromManagedInstances"
    actions   = ["ec2:DetachVolume"]
    resources = concat(local.ec2_arns["volume"], local.ec2_arns["instance"])
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }
}

data "aws_iam_policy_document" "drill_data" {
  statement {
    sid       = "RecordDrillResults"
    actions   = ["dynamodb:PutItem", "dynamodb:Query"]
    resources = [module.results.arn]
  }

  statement {
    sid       = "PublishDrillReports"
    actions   = ["sns:Publish"]
    resources = [var.sns_topic_arn]
  }

  dynamic "statement" {
    for_each = local.validation_function_arn == null ? [] : [local.validation_function_arn]
    content {
      sid       = "InvokeOnlyTheValidationFunction"
      actions   = ["lambda:InvokeFunction"]
      resources = [statement.value]
    }
  }
}

locals {
  drill_policies = {
    instance-restore = module.instance_restore_iam.json
    ec2-write        = data.aws_iam_policy_document.drill_ec2_write.json
    data             = data.aws_iam_policy_document.drill_data.json
  }
}
