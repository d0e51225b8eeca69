# (v3) Tamper alarms: EventBridge rules on the CloudTrail management events the contract lists, made by any
# principal but the vault's own roles, to one readable `Smart Vault TAMPER ...` SNS notification each
# (event_type vault.tamper, an input transformer: no function to delete first), and to a log group whose
# metric filter counts them (TamperEvents); an alarm fires on the first. CloudTrail must record management
# events (write) in this account and region; docs/vault.md says how to check.

# Its `id` is the region's name in AWS provider 5.x and 6.x alike (6.x deprecates `name`, 5.x has no `region`).
data "aws_region" "current" {}

locals {
  cloudtrail = "AWS API Call via CloudTrail"
  not_trusted = {
    userIdentity = { arn = [{ "anything-but" = { prefix = var.trusted_arn_prefix } }] }
  }
  # Each rule: the service whose CloudTrail events it reads, and what of `detail` it matches besides the
  # principal (the calls, and which of the vault's resources they name). `tamper_patterns` frames them alike.
  tamper_rules = {
    snapshots = {
      description = "Deletes, locks, unlocks, unshares and untags of snapshots"
      source      = "aws.ec2"
      detail = {
        eventName = ["DeleteSnapshot", "UnlockSnapshot", "LockSnapshot", "ModifySnapshotAttribute", "DeleteTags"]
      }
    }
    keys = {
      description = "Deletion, disabling, policy and grant changes of the vault's keys"
      source      = "aws.kms"
      detail = {
        eventName         = ["ScheduleKeyDeletion", "DisableKey", "PutKeyPolicy", "CreateGrant", "RevokeGrant"]
        requestParameters = { keyId = var.key_ids }
      }
    }
    functions = {
      description = "Deletion or changes of the vault's functions"
      source      = "aws.lambda"
      detail = {
        # CloudTrail names Lambda calls with their API version (DeleteFunction20150331, ...).
        eventName         = [{ prefix = "DeleteFunction" }, { prefix = "UpdateFunctionCode" }, { prefix = "UpdateFunctionConfiguration" }]
        requestParameters = { functionName = var.function_names }
      }
    }
    rules = {
      description = "Deletion or disabling of the vault's rules"
      source      = "aws.events"
      detail = {
        eventName         = ["DeleteRule", "DisableRule"]
        requestParameters = { name = var.rule_names }
      }
    }
    # RemoveTargets names its rule in requestParameters.rule, not .name.
    targets = {
      description = "Removal of the targets of the vault's rules"
      source      = "aws.events"
      detail = {
        eventName         = ["RemoveTargets"]
        requestParameters = { rule = var.rule_names }
      }
    }
  }

  tamper_patterns = {
    for name, rule in local.tamper_rules : name => {
      source      = [rule.source]
      detail-type = [local.cloudtrail]
      detail      = merge(local.not_trusted, rule.detail)
    }
  }
}

resource "aws_cloudwatch_event_rule" "tamper" {
  for_each = local.tamper_rules

  name          = "${var.name_prefix}-tamper-${each.key}"
  description   = "Smart Vault TAMPER: ${each.value.description}."
  event_pattern = jsonencode(local.tamper_patterns[each.key])
}

resource "aws_cloudwatch_event_target" "tamper_notification" {
  for_each = local.tamper_rules

  rule = aws_cloudwatch_event_rule.tamper[each.key].name
  arn  = var.topic_arn

  input_transformer {
    input_paths = {
      call      = "$.detail.eventName"
      principal = "$.detail.userIdentity.arn"
      time      = "$.detail.eventTime"
      account   = "$.account"
      region    = "$.region"
      resource  = "$.detail.requestParameters"
      error     = "$.detail.errorCode"
    }
    input_template = <<-JSON
      {"subject": "Smart Vault TAMPER <call> by <principal>", "event_type": "vault.tamper", "call": "<call>", "principal": "<principal>", "resource": <resource>, "time": "<time>", "account": "<account>", "region": "<region>", "error": "<error>"}
    JSON
  }
}

resource "aws_cloudwatch_log_group" "tamper" {
  name              = "/aws/events/${var.name_prefix}-tamper"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "tamper_logs" {
  statement {
    sid       = "EventBridgeWritesTamperEvents"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.tamper.arn}:*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "delivery.logs.amazonaws.com"]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "tamper" {
  policy_name     = "${var.name_prefix}-tamper"
  policy_document = data.aws_iam_policy_document.tamper_logs.json
}

resource "aws_cloudwatch_event_target" "tamper_log" {
  for_each = local.tamper_rules

  rule = aws_cloudwatch_event_rule.tamper[each.key].name
  arn  = aws_cloudwatch_log_group.tamper.arn
}

resource "aws_cloudwatch_log_metric_filter" "tamper" {
  name           = "${var.name_prefix}-tamper-events"
  log_group_name = aws_cloudwatch_log_group.tamper.name
  pattern        = "{ $.detail.eventName = * }"

  metric_transformation {
    name       = "TamperEvents"
    namespace  = "SmartVault"
    value      = "1"
    dimensions = { Region = "$.region" }
  }
}

module "alarm" {
  source = "../alarm"

  name               = "${var.name_prefix}-tamper"
  description        = "Smart Vault TAMPER: a call on the vault's snapshots, keys, functions or rules by a principal other than the vault's roles."
  namespace          = "SmartVault"
  metric             = "TamperEvents"
  dimensions         = { Region = data.aws_region.current.id }
  statistic          = "Sum"
  period             = 60
  threshold          = 1
  comparison         = "GreaterThanOrEqualToThreshold"
  treat_missing_data = "notBreaching"
  topic_arn          = var.topic_arn
}

