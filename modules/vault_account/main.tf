# The vault account's stack, applied with a provider configured with the vault account's credentials (the
# root's aws.vault). Nothing here trusts the workload account beyond two resource policies: its backup
# function may put `Smart Vault Snapshot Shared` events on the vault's bus, and that is all. The vault's key
# is administered by the named vault-account principals only; the workload account is not in its policy.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id    = data.aws_caller_identity.current.account_id
  partition     = data.aws_partition.current.partition
  function_name = "${var.name_prefix}-vault"
  handler       = "smart_vault.vault.handler"
  snapshots     = "arn:${local.partition}:ec2:${var.region}::snapshot/*"

  # The actions that use a key for data (KMS's default "Allow use of the key" set, as kms.tf's
  # key_use_actions for the workload's keys): EBS's for the vault role, the services' for their messages.
  key_use_actions = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
}

# ------------------------------------------------------------------ the vault key

data "aws_iam_policy_document" "vault_key" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; use is limited by principal and kms:ViaService.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only (it cannot name any other resource).
  #checkov:skip=CKV_AWS_109:Key administration is limited to the named administrators; no account-root statement.
  statement {
    sid       = "NamedAdministratorsOnly"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = var.key_administrator_arns
    }
  }

  statement {
    sid       = "VaultFunctionUsesKeyThroughEc2"
    actions   = local.key_use_actions
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [module.vault.role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ec2.${var.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "VaultFunctionGrantsEbs"
    actions   = ["kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [module.vault.role_arn]
    }
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  # The recovery roles (restore worker and drill of the stacks deployed in this account, docs/vault.md): EC2
  # decrypts a vault copy into a volume and holds a grant for its life, both with the caller's permissions,
  # through ec2.<region> only. The key has no account statement, so no IAM policy alone could allow it.
  dynamic "statement" {
    for_each = length(var.recovery_role_arns) > 0 ? [var.recovery_role_arns] : []
    content {
      sid       = "RecoveryRolesUseKeyThroughEc2"
      actions   = ["kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = statement.value
      }
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ec2.${var.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.recovery_role_arns) > 0 ? [var.recovery_role_arns] : []
    content {
      sid       = "RecoveryRolesGrantEbs"
      actions   = ["kms:CreateGrant"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = statement.value
      }
      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ec2.${var.region}.amazonaws.com"]
      }
    }
  }

  # The ledger and the topic are encrypted with this key: DynamoDB and SNS use it for the vault function.
  # So is the function's environment (kms_key_arn): Lambda decrypts it with the function's role at every
  # cold start, through lambda.<region> (without it every invocation fails with KMSAccessDeniedException).
  # So is its dead-letter queue: Lambda sends a failed invocation's record there with the function's role,
  # which SQS encrypts through sqs.<region>. This key has no account statement, so no IAM policy could
  # grant any of these: the key policy names the role.
  statement {
    sid       = "VaultFunctionUsesKeyThroughItsLedgerAndTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [module.vault.role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "dynamodb.${var.region}.amazonaws.com",
        "sns.${var.region}.amazonaws.com",
        "lambda.${var.region}.amazonaws.com",
        "sqs.${var.region}.amazonaws.com",
      ]
    }
  }

  # EventBridge (the tamper rules' topic, the dead-letter queue) and CloudWatch alarms (the topic).
  statement {
    sid       = "ServicesEncryptVaultData"
    actions   = local.key_use_actions
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # CloudWatch Logs, for the vault's own log groups: the function's and the tamper rules'. Logs names the log
  # group in the encryption context (kms:EncryptionContext:aws:logs:arn), the condition its guide documents.
  statement {
    sid       = "CloudWatchLogsEncryptsVaultLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/lambda/${var.name_prefix}-*",
        "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/aws/events/${var.name_prefix}-*",
      ]
    }
  }
}

resource "aws_kms_key" "vault" {
  description             = "Smart Vault (${var.name_prefix}) vault copies and the vault's own data in ${var.region}."
  enable_key_rotation     = true
  deletion_window_in_days = var.key_deletion_window_days
  policy                  = data.aws_iam_policy_document.vault_key.json
}

resource "aws_kms_alias" "vault" {
  name          = "alias/${var.name_prefix}-vault"
  target_key_id = aws_kms_key.vault.key_id
}

# ------------------------------------------------------------------ topic, ledger, logs

resource "aws_sns_topic" "vault" {
  name              = "${var.name_prefix}-vault"
  kms_master_key_id = aws_kms_key.vault.arn
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.notification_email == null ? 0 : 1
  topic_arn = aws_sns_topic.vault.arn
  protocol  = "email"
  endpoint  = var.notification_email
}

data "aws_iam_policy_document" "vault_topic" {
  statement {
    sid       = "EventBridgeAndAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.vault.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "vault" {
  arn    = aws_sns_topic.vault.arn
  policy = data.aws_iam_policy_document.vault_topic.json
}

module "ledger" {
  source = "../table"

  name          = "${var.name_prefix}-vault-ledger"
  hash_key      = "pk"
  range_key     = "sk"
  ttl_attribute = "expires_at"
  kms_key_arn   = aws_kms_key.vault.arn
}

# ------------------------------------------------------------------ the function

module "vault" {
  source = "../function"

  function_name      = local.function_name
  description        = "Smart Vault vault: copies every announced DR copy once under the vault key, locks and prunes its copies."
  role_description   = "Smart Vault vault function: copies shared DR copies into the vault, locks and prunes them."
  handler            = local.handler
  code               = var.function_code
  memory_size        = 512
  timeout            = 300
  kms_key_arn        = aws_kms_key.vault.arn
  log_retention_days = var.log_retention_days
  policies           = local.vault_policies # iam.tf

  environment = {
    SNS_TOPIC_ARN         = aws_sns_topic.vault.arn
    SOURCE_ACCOUNT_IDS    = join(",", var.source_account_ids)
    VAULT_KMS_KEY_ID      = aws_kms_key.vault.arn
    VAULT_LEDGER_TABLE    = module.ledger.name
    RETENTION_DAYS        = tostring(var.retention_days)
    MIN_SNAPSHOTS_KEPT    = tostring(var.min_snapshots_kept)
    MAX_CONCURRENT_COPIES = tostring(var.max_concurrent_copies)
    LOCK_MODE             = var.lock_mode
    LOCK_COOL_OFF_HOURS   = tostring(var.lock_cool_off_hours)
  }

  async_invocation = {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 21600
    dead_letter_queue_name       = "${var.name_prefix}-vault-dlq"
    dead_letter_event_rule_arns  = [for r in aws_cloudwatch_event_rule.vault : r.arn]
  }

  # The vault's alarms are its own metrics' (below): no standard function alarm.
  alarm_topic_arn = aws_sns_topic.vault.arn
}

# ------------------------------------------------------------------ the bus and the events

# Named as the function and its role (local.function_name): a workload that applies its side separately finds
# the vault role from the bus ARN it is given (the root's vault.tf, local.vault_copy_role_arns).
resource "aws_cloudwatch_event_bus" "vault" {
  name = local.function_name
}

data "aws_iam_policy_document" "vault_bus" {
  statement {
    sid       = "WorkloadAccountsAnnounceSharedSnapshots"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.vault.arn]
    principals {
      type        = "AWS"
      identifiers = [for a in var.source_account_ids : "arn:${local.partition}:iam::${a}:root"]
    }
    condition {
      test     = "StringEquals"
      variable = "events:source"
      values   = ["smart-vault"]
    }
    condition {
      test     = "StringEquals"
      variable = "events:detail-type"
      values   = ["Smart Vault Snapshot Shared"]
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "vault" {
  event_bus_name = aws_cloudwatch_event_bus.vault.name
  policy         = data.aws_iam_policy_document.vault_bus.json
}

locals {
  vault_rules = {
    announcements = {
      bus         = aws_cloudwatch_event_bus.vault.name
      description = "Smart Vault Snapshot Shared announcements of the workload accounts."
      pattern     = jsonencode({ source = ["smart-vault"], detail-type = ["Smart Vault Snapshot Shared"], account = var.source_account_ids })
      schedule    = null
    }
    copy-completion = {
      bus         = "default"
      description = "The vault account's own copySnapshot results: a finished copy frees a slot."
      pattern     = jsonencode({ source = ["aws.ec2"], detail-type = ["EBS Snapshot Notification"], detail = { event = ["copySnapshot"] } })
      schedule    = null
    }
    reconcile = {
      bus         = "default"
      description = "The vault's reconciliation: owed copies, locks, pruning, RPO."
      pattern     = null
      schedule    = var.reconcile_schedule
    }
  }
}

resource "aws_cloudwatch_event_rule" "vault" {
  for_each = local.vault_rules

  name                = "${var.name_prefix}-vault-${each.key}"
  description         = each.value.description
  event_bus_name      = each.value.bus
  event_pattern       = each.value.pattern
  schedule_expression = each.value.schedule
}

resource "aws_cloudwatch_event_target" "vault" {
  for_each = local.vault_rules

  rule           = aws_cloudwatch_event_rule.vault[each.key].name
  event_bus_name = each.value.bus
  arn            = module.vault.arn
  input          = each.key == "reconcile" ? jsonencode({ reconcile = true }) : null

  retry_policy {
    maximum_retry_attempts       = 8
    maximum_event_age_in_seconds = 21600
  }

  dead_letter_config {
    arn = module.vault.dead_letter_queue_arn
  }
}

resource "aws_lambda_permission" "vault" {
  for_each = local.vault_rules

  statement_id  = "EventBridge-${each.key}"
  action        = "lambda:InvokeFunction"
  function_name = module.vault.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.vault[each.key].arn
}

# ------------------------------------------------------------------ alarms

module "vault_backlog" {
  source = "../alarm"

  name               = "${var.name_prefix}-vault-backlog"
  description        = "More than 100 vault copies owed: the vault falls behind."
  namespace          = "SmartVault"
  metric             = "VaultBacklog"
  dimensions         = { Region = var.region, Account = "vault" }
  statistic          = "Maximum"
  period             = 3600
  threshold          = 100
  treat_missing_data = "notBreaching"
  topic_arn          = aws_sns_topic.vault.arn
  notify_ok          = true
}

module "vault_rejected" {
  source = "../alarm"

  name               = "${var.name_prefix}-vault-rejected"
  description        = "The vault rejected an announcement (a stranger, or a snapshot not shared)."
  namespace          = "SmartVault"
  metric             = "VaultRejected"
  dimensions         = { Region = var.region, Account = "vault" }
  statistic          = "Maximum"
  period             = 3600
  threshold          = 0
  treat_missing_data = "notBreaching"
  topic_arn          = aws_sns_topic.vault.arn
  notify_ok          = true
}

module "vault_rpo" {
  source = "../alarm"

  name               = "${var.name_prefix}-vault-rpo"
  description        = "The vault's newest complete recovery point of some instance is older than 36 h."
  namespace          = "SmartVault"
  metric             = "RecoveryPointAgeSeconds"
  dimensions         = { Region = var.region, Account = "vault" }
  statistic          = "Maximum"
  period             = 3600
  threshold          = 36 * 3600
  treat_missing_data = "notBreaching"
  topic_arn          = aws_sns_topic.vault.arn
  notify_ok          = true
}

# ------------------------------------------------------------------ Recycle Bin

# A locked rule, so Region-level (AWS locks no tag-level rule): every snapshot deleted in the vault account's
# region, which holds only the vault's copies. It cannot be modified or deleted before its unlock delay has run
# after an UnlockRule; its description names no setting, so that only a change of the retention needs that.
module "recycle_bin" {
  source = "../recycle_bin"

  description       = "Deleted snapshots of the Smart Vault vault account stay in the Recycle Bin for the rule's retention."
  retention_days    = var.recycle_bin_retention_days
  unlock_delay_days = 7
}
