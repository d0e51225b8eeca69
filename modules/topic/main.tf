# One notification topic: encrypted with its region's key, subscribed to by the notification address, and
# open to the account's EventBridge rules and CloudWatch alarms (their service principals, for this account's
# resources only). The workload's two regional topics and the vault account's topic are instances of this
# module; the billing topic in us-east-1, which only its alarm uses, is not.

data "aws_caller_identity" "current" {}

resource "aws_sns_topic" "this" {
  name              = var.name
  display_name      = var.display_name
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  count = var.email == null ? 0 : 1

  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = var.email
}

data "aws_iam_policy_document" "publish" {
  statement {
    sid       = "EventBridgeAndAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = data.aws_iam_policy_document.publish.json
}
