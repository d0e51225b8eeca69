# The IAM of the instance-restore engine (smart_vault.restore.instance), written once for the two roles that
# run it: the restore worker (modules/restore_stack) and the drill (modules/drill_stack). A full-instance
# restore finds the recovery point, registers a temporary AMI from managed snapshots, launches a managed
# instance with IMDSv2 required, tags at creation, and tears down only what carries ManagedBy=smart-vault;
# EBS decrypts the snapshots with their keys on the role's behalf. Each caller adds what is its own (the
# subnets and groups it may launch into, volumes it creates or attaches, the instance profiles it may pass).

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  ec2_arns = {
    for kind in ["instance", "volume", "network-interface"] :
    kind => [for r in var.regions : "arn:${data.aws_partition.current.partition}:ec2:${r}:${data.aws_caller_identity.current.account_id}:${kind}/*"]
  }
  image_arns    = [for r in var.regions : "arn:${data.aws_partition.current.partition}:ec2:${r}::image/*"]
  snapshot_arns = [for r in var.regions : "arn:${data.aws_partition.current.partition}:ec2:${r}::snapshot/*"]
  ec2_via       = [for r in var.regions : "ec2.${r}.amazonaws.com"]
}

data "aws_iam_policy_document" "this" {
  statement {
    sid = "FindRecoveryPointsAndWatchRestores"
    # Describe calls support no resource-level permissions.
    actions = [
      "ec2:DescribeSnapshots",
      "ec2:DescribeImages",
      "ec2:DescribeInstances",
      "ec2:DescribeInstanceStatus",
      "ec2:DescribeVolumes",
      "ec2:DescribeSubnets",
      "ec2:DescribeKeyPairs",
    ]
    resources = ["*"]
  }

  # The temporary AMI: tagged managed at creation (aws:RequestTag on the image resource of RegisterImage),
  # only from managed snapshots (ec2:ResourceTag on its snapshot resource).
  statement {
    sid       = "RegisterImagesOnlyTaggedManaged"
    actions   = ["ec2:RegisterImage"]
    resources = local.image_arns
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${var.managed_by_tag.key}"
      values   = [var.managed_by_tag.value]
    }
  }

  statement {
    sid       = "RegisterImagesOnlyFromManagedSnapshots"
    actions   = ["ec2:RegisterImage"]
    resources = local.snapshot_arns
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${var.managed_by_tag.key}"
      values   = [var.managed_by_tag.value]
    }
  }

  # The instance resource of RunInstances takes both the request tags and the metadata options: only tagged
  # instances are launched, and only with IMDSv2 required (as the engine always asks).
  statement {
    sid       = "LaunchInstancesOnlyTaggedManaged"
    actions   = ["ec2:RunInstances"]
    resources = local.ec2_arns["instance"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${var.managed_by_tag.key}"
      values   = [var.managed_by_tag.value]
    }
    condition {
      test     = "StringEquals"
      variable = "ec2:MetadataHttpTokens"
      values   = ["required"]
    }
  }

  # The root volume and network interface RunInstances creates belong to the (managed) instance and go with
  # it; when the request tags them too, the tag must be ManagedBy=smart-vault.
  statement {
    sid       = "LaunchWithInstanceVolumesAndInterfaces"
    actions   = ["ec2:RunInstances"]
    resources = concat(local.ec2_arns["volume"], local.ec2_arns["network-interface"])
    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:RequestTag/${var.managed_by_tag.key}"
      values   = [var.managed_by_tag.value]
    }
  }

  # Tags only at creation, on the AMI, the instance and its volumes (never a network interface, which the
  # engine does not tag), and only with ManagedBy=smart-vault among them: an untagged-managed resource is
  # one the engine could not clean up.
  statement {
    sid       = "TagRestoredResourcesAtCreation"
    actions   = ["ec2:CreateTags"]
    resources = concat(local.image_arns, local.ec2_arns["instance"], local.ec2_arns["volume"])
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["RegisterImage", "RunInstances"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${var.managed_by_tag.key}"
      values   = [var.managed_by_tag.value]
    }
  }

  # Deregistering leaves the snapshots behind it alone (they are the vault's recovery point).
  statement {
    sid       = "DeregisterOnlyManagedImages"
    actions   = ["ec2:DeregisterImage"]
    resources = local.image_arns
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${var.managed_by_tag.key}"
      values   = [var.managed_by_tag.value]
    }
  }

  statement {
    sid       = "TerminateOnlyManagedInstances"
    actions   = ["ec2:TerminateInstances"]
    resources = local.ec2_arns["instance"]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${var.managed_by_tag.key}"
      values   = [var.managed_by_tag.value]
    }
  }

  statement {
    sid       = "DeleteOnlyManagedVolumes"
    actions   = ["ec2:DeleteVolume"]
    resources = local.ec2_arns["volume"]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${var.managed_by_tag.key}"
      values   = [var.managed_by_tag.value]
    }
  }

  # EBS decrypts the snapshots and encrypts the new volumes with their key on the role's behalf.
  statement {
    sid       = "ReadEncryptedSnapshotsThroughEbs"
    actions   = ["kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
    resources = var.ebs_kms_key_arns
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.ec2_via
    }
  }

  statement {
    sid       = "LetEbsHoldGrantForRestoredVolumes"
    actions   = ["kms:CreateGrant"]
    resources = var.ebs_kms_key_arns
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.ec2_via
    }
  }
}
