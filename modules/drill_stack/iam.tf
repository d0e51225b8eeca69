# The drill role: the EC2 calls of a full-instance restore from a temporary AMI (smart_vault.restore.instance),
# limited to this region and to what carries ManagedBy=smart-vault; RunInstances only into the drill subnet
# and groups; Invoke only on the validation function; its own table, topic and log group.

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  managed_by_key   = "ManagedBy"
  managed_by_value = "smart-vault"

  # Named as in the restore stack, so the same least-privilege tests read both (tests/terraform).
  ec2_arns = merge(
    {
      for kind in ["instance", "volume", "network-interface", "key-pair"] :
      kind => ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:${kind}/*"]
    },
    {
      "security-group" = [
        for g in local.security_group_ids : "arn:${local.partition}:ec2:${var.region}:${local.account_id}:security-group/${g}"
      ]
    },
  )
  image_arns      = ["arn:${local.partition}:ec2:${var.region}::image/*"]
  snapshot_arns   = ["arn:${local.partition}:ec2:${var.region}::snapshot/*"]
  subnet_arns     = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:subnet/${local.subnet_id}"]
  ec2_via_service = "ec2.${var.region}.amazonaws.com"
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

resource "aws_iam_role" "drill" {
  name               = "${var.name_prefix}-drill"
  description        = "Smart Vault restore drills (${var.region}): temporary AMIs and instances from managed snapshots."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "drill_logs" {
  statement {
    sid       = "WriteOwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.drill.arn}:*"]
  }
}

data "aws_iam_policy_document" "drill_ec2_read" {
  statement {
    sid = "FindRecoveryPointsAndWatchDrills"
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
}

data "aws_iam_policy_document" "drill_ec2_write" {
  # The temporary AMI: tagged managed at creation (aws:RequestTag on the image resource of RegisterImage),
  # only from managed snapshots (ec2:ResourceTag on its snapshot resource).
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

  # The instance resource of RunInstances takes both the request tags and the metadata options: the drill
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

  # The volumes and the network interface RunInstances creates go with the (managed) instance; when the
  # request tags them, the tag must be ManagedBy=smart-vault.
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

  # Tags only at creation, on the AMI, the instance and its volumes (never a network interface, which the
  # drill does not tag), and only with ManagedBy=smart-vault among them.
  statement {
    sid       = "TagDrillResourcesAtCreation"
    actions   = ["ec2:CreateTags"]
    resources = concat(local.image_arns, local.ec2_arns["instance"], local.ec2_arns["volume"])
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["RegisterImage", "RunInstances"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  statement {
    sid       = "TearDownOnlyManagedInstances"
    actions   = ["ec2:TerminateInstances"]
    resources = local.ec2_arns["instance"]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

  # DetachVolume authorizes the volume and the instance; DeleteVolume only the volume.
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

  statement {
    sid       = "TearDownOnlyManagedVolumes"
    actions   = ["ec2:DeleteVolume"]
    resources = local.ec2_arns["volume"]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.managed_by_key}"
      values   = [local.managed_by_value]
    }
  }

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
}

data "aws_iam_policy_document" "drill_data" {
  statement {
    sid       = "RecordDrillResults"
    actions   = ["dynamodb:PutItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    sid       = "PublishDrillReports"
    actions   = ["sns:Publish"]
    resources = [var.sns_topic_arn]
  }

  dynamic "statement" {
    for_each = var.validation_function_arn == null ? [] : [var.validation_function_arn]
    content {
      sid       = "InvokeOnlyTheValidationFunction"
      actions   = ["lambda:InvokeFunction"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "drill_kms" {
  # EBS decrypts the snapshots and encrypts the drill volumes with their key on the function's behalf.
  statement {
    sid       = "ReadEncryptedSnapshotsThroughEbs"
    actions   = ["kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
    resources = var.ebs_kms_key_arns
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.ec2_via_service]
    }
  }

  statement {
    sid       = "LetEbsHoldGrantForDrillVolumes"
    actions   = ["kms:CreateGrant"]
    resources = var.ebs_kms_key_arns
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.ec2_via_service]
    }
  }

  statement {
    sid       = "UseStackKeyForTableTopicAndEnvironment"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "dynamodb.${var.region}.amazonaws.com",
        "sns.${var.region}.amazonaws.com",
        "lambda.${var.region}.amazonaws.com",
      ]
    }
  }
}

locals {
  drill_policies = {
    logs      = data.aws_iam_policy_document.drill_logs.json
    ec2-read  = data.aws_iam_policy_document.drill_ec2_read.json
    ec2-write = data.aws_iam_policy_document.drill_ec2_write.json
    data      = data.aws_iam_policy_document.drill_data.json
    kms       = data.aws_iam_policy_document.drill_kms.json
  }
}

resource "aws_iam_role_policy" "drill" {
  for_each = local.drill_policies

  name   = each.key
  role   = aws_iam_role.drill.id
  policy = each.value
}

resource "aws_iam_role_policy_attachment" "drill_xray" {
  role       = aws_iam_role.drill.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}
