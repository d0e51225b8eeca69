# (v3) Tamper alarms: EventBridge rules on the CloudTrail management events the contract lists (and the calls
# with the same effect), made by any principal but the vault's own roles, to one readable `Smart Vault TAMPER
# ...` SNS notification each (event_type vault.tamper, an input transformer: no function to delete first), and
# to a log group whose metric filter counts them (TamperEvents); an alarm fires on the first. CloudTrail must
# record management events (write) in this account and region; docs/vault.md says how to check.
# smart_vault.tamper holds the same patterns as data: tests/vault renders these locals and compares them.

# Its `id` is the region's name in AWS provider 5.x and 6.x alike (6.x deprecates `name`, 5.x has no `region`).
data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  cloudtrail = "AWS API Call via CloudTrail"
  not_trusted = {
    userIdentity = { arn = [{ "anything-but" = { prefix = var.trusted_arn_prefix } }] }
  }
  account = data.aws_caller_identity.current.account_id

  # Every FunctionName the Lambda API resolves to a watched function, as CloudTrail records what the caller
  # gave: its name, ARN or partial ARN (<account>:function:<name>), each alone or with a version or alias
  # after a colon (`prefix` with the colon: a name that merely starts alike is another function).
  function_arn = "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.id}:${local.account}:function:"
  function_forms = flatten([
    for name in var.function_names : [
      name, { prefix = "${name}:" },
      "${local.function_arn}${name}", { prefix = "${local.function_arn}${name}:" },
      "${local.account}:function:${name}", { prefix = "${local.account}:function:${name}:" },
    ]
  ])

  # EventBridge reads "$or" only with two branches or more, so a rule whose extra branches are not given is
  # written without it (`merge` of `for ... if`: Terraform's conditional needs both results of one type).
  key_calls = ["ScheduleKeyDeletion", "DisableKey", "PutKeyPolicy", "CreateGrant", "RevokeGrant"]
  # CreateGrant by the roles of `grant_role_arns` (EBS creates a grant with its caller's permissions for each
  # volume or copy it decrypts) is theirs to make; every other key call of theirs is reported. Matched on the
  # session's role (sessionContext.sessionIssuer.arn); root and IAM users have no role session.
  key_detail = merge(
    { for k, v in { eventName = local.key_calls } : k => v if length(var.grant_role_arns) == 0 },
    {
      for k, v in {
        "$or" = [
          { eventName = [for c in local.key_calls : c if c != "CreateGrant"] },
          { eventName = ["CreateGrant"], userIdentity = { type = [{ "anything-but" = ["AssumedRole"] }] } },
          { eventName = ["CreateGrant"], userIdentity = { sessionContext = { sessionIssuer = { arn = [{ "anything-but" = var.grant_role_arns }] } } } },
        ]
      } : k => v if length(var.grant_role_arns) > 0
    },
  )
  # PutRule replaces a rule whole (State=DISABLED disables it, a new pattern or schedule re-aims it). With the
  # vault's bus: its deletion, and its policy (which lets the workload accounts announce) put or removed.
  rule_calls = { eventName = ["DeleteRule", "DisableRule", "PutRule"], requestParameters = { name = var.rule_names } }
  rule_detail = merge(
    { for k, v in local.rule_calls : k => v if length(var.bus_names) == 0 },
    {
      for k, v in {
        "$or" = [
          local.rule_calls,
          { eventName = ["DeleteEventBus"], requestParameters = { name = var.bus_names } },
          { eventName = ["PutPermission", "RemovePermission"], requestParameters = { eventBusName = var.bus_names } },
        ]
      } : k => v if length(var.bus_names) > 0
    },
  )

  # Each rule: the service whose CloudTrail events it reads, and what of `detail` it matches besides the
  # principal (the calls, and which of the vault's resources they name). `tamper_patterns` frames them alike.
  tamper_rules = merge(
    {
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
        detail      = merge(local.key_detail, { requestParameters = { keyId = var.key_ids } })
      }
      functions = {
        description = "Deletion, changes, throttling or invoke permission removal of the vault's functions"
        source      = "aws.lambda"
        detail = {
          # CloudTrail names Lambda calls with their API version (DeleteFunction20150331, ...). Concurrency 0
          # stops a function; its invoke permissions removed, no rule or API may call it.
          eventName         = [{ prefix = "DeleteFunction" }, { prefix = "UpdateFunctionCode" }, { prefix = "UpdateFunctionConfiguration" }, { prefix = "PutFunctionConcurrency" }, { prefix = "RemovePermission" }]
          requestParameters = { functionName = local.function_forms }
        }
      }
      rules = {
        description = "Deletion, disabling or replacement of the vault's rules, deletion or policy changes of its bus"
        source      = "aws.events"
        detail      = local.rule_detail
      }
      # RemoveTargets and PutTargets name their rule in requestParameters.rule, not .name.
      targets = {
        description = "Removal or replacement of the targets of the vault's rules"
        source      = "aws.events"
        detail = {
          eventName         = ["RemoveTargets", "PutTargets"]
          requestParameters = { rule = var.rule_names }
        }
      }
    },
    # The trails the rules depend on: stopped, deleted, or updated or re-selected to leave out management
    # events, every rule goes blind. Only the trails named (other trails may change for their own reasons).
    {
      for k, v in {
        trails = {
          description = "Stopping, deletion or changes of the trails the tamper rules depend on"
          source      = "aws.cloudtrail"
          detail = {
            "$or" = [
              { eventName = ["StopLogging", "DeleteTrail", "UpdateTrail"], requestParameters = { name = var.trail_names } },
              { eventName = ["PutEventSelectors"], requestParameters = { trailName = var.trail_names } },
            ]
          }
        }
      } : k => v if length(var.trail_names) > 0
    },
  )

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

