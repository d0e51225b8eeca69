# One customer-managed key per region, rotated yearly. The primary key encrypts the primary region's
# tables, topic, queue and logs; the DR key encrypts every DR snapshot copy (DR_KMS_KEY_ID) and the DR
# region's tables, topic, queue and logs. The key policies let the account's IAM policies grant use (the
# function roles get narrow grants in their own policies), and let the AWS services that write encrypted
# data on the project's behalf use the key in its own region only.

locals {
  key_regions = {
    primary = var.primary_region
    dr      = var.dr_region
  }

  # What a user of a shared snapshot's key must be allowed besides kms:CreateGrant (EBS user guide, "Share the KMS
  # key used to encrypt a shared Amazon EBS snapshot": DescribeKey, CreateGrant, GenerateDataKey,
  # GenerateDataKeyWithoutPlaintext, ReEncrypt, Decrypt). The vault account's copy is re-encrypted under its own
  # key, which may need fewer; AWS does not say which, and a missing one would fail every vault copy.
  shared_snapshot_key_actions = ["kms:Decrypt", "kms:DescribeKey", "kms:ReEncrypt*", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"]

  # The actions that use a key for data (KMS's default "Allow use of the key" set): what EBS does with the
  # keys for encrypted snapshot copies and volumes, in the key policies here and in the backup role's.
  key_use_actions = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
  ]
}

# KMS's default key policy statement, the first of every key policy of this account (these and the billing
# key's, notifications.tf): the account's IAM policies may grant use of the key.
data "aws_iam_policy_document" "account_administers_key" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only (it cannot name any other resource).
  #checkov:skip=CKV_AWS_109:The account-root statement is KMS's default key policy: without it IAM policies could not grant use of the key and the key could become unmanageable.
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

data "aws_iam_policy_document" "kms_key" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; write use is limited by principal, kms:ViaService and source conditions.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only (it cannot name any other resource).
  for_each = local.key_regions

  source_policy_documents = [data.aws_iam_policy_document.account_administers_key.json]

  # EBS uses the key for the snapshot copies and restored volumes on behalf of the vault's roles only.
  statement {
    sid       = "VaultFunctionsUseKeyThroughEc2"
    actions   = local.key_use_actions
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${each.value}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:PrincipalArn"
      values   = ["arn:${local.partition}:iam::${local.account_id}:role/${var.name_prefix}-*"]
    }
  }

  statement {
    sid       = "VaultFunctionsGrantEbsThroughEc2"
    actions   = ["kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${each.value}.amazonaws.com"]
    }
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:PrincipalArn"
      values   = ["arn:${local.partition}:iam::${local.account_id}:role/${var.name_prefix}-*"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsVaultLogGroups"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${each.value}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${each.value}:${local.account_id}:log-group:/aws/lambda/${var.name_prefix}-*",
        "arn:${local.partition}:logs:${each.value}:${local.account_id}:log-group:/aws/apigateway/${var.name_prefix}-*",
        "arn:${local.partition}:logs:${each.value}:${local.account_id}:log-group:/aws/events/${var.name_prefix}-*",
      ]
    }
  }

  # (v3) The vault account copies shared DR copies: it may use the DR key for that through EBS
  # (contract: kms:Decrypt, kms:DescribeKey, kms:CreateGrant for AWS resources, kms:ReEncrypt*).
  dynamic "statement" {
    for_each = each.key == "dr" && var.vault_account_id != "" ? ["read"] : []
    content {
      sid       = "VaultAccountReadsSharedCopies"
      actions   = local.shared_snapshot_key_actions
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${var.vault_account_id}:root"]
      }
    }
  }

  dynamic "statement" {
    for_each = each.key == "dr" && var.vault_account_id != "" ? ["grant"] : []
    content {
      sid       = "VaultAccountGrantsEbs"
      actions   = ["kms:CreateGrant"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${var.vault_account_id}:root"]
      }
      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }

  # (v3) Only the named key administrators may schedule the DR key's deletion, disable it or change its
  # policy (an explicit Deny: the account-root statement above cannot outweigh it).
  dynamic "statement" {
    for_each = each.key == "dr" && length(var.dr_key_administrator_arns) > 0 ? ["deny"] : []
    content {
      sid       = "OnlyKeyAdministratorsDeleteOrRepolicy"
      effect    = "Deny"
      actions   = ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = ["*"]
      }
      condition {
        test     = "ArnNotLike"
        variable = "aws:PrincipalArn"
        values   = var.dr_key_administrator_arns
      }
    }
  }

  # CloudWatch alarms publish to the encrypted topics; EventBridge sends undeliverable events to the
  # encrypted dead-letter queue.
  statement {
    sid       = "AlarmsAndEventBridgeWriteEncryptedMessages"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "primary" {
  description             = "Smart Vault (${var.name_prefix}) data in ${var.primary_region}: tables, topic, queues, logs."
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_key["primary"].json
}

resource "aws_kms_alias" "primary" {
  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.primary.key_id
}

resource "aws_kms_key" "dr" {
  provider = aws.dr

  description             = "Smart Vault (${var.name_prefix}) DR snapshot copies and data in ${var.dr_region}."
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_key["dr"].json
}

resource "aws_kms_alias" "dr" {
  provider = aws.dr

  name          = "alias/${var.name_prefix}-dr"
  target_key_id = aws_kms_key.dr.key_id
}
