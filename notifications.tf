# SNS topics for backup reports, restore results and alarms, one per region so that a restore in the DR
# region can notify while the primary region is down. CloudWatch alarm actions must target a topic in the
# alarm's own region, hence the third topic (and key) in us-east-1 for the billing alarm.

resource "aws_sns_topic" "notifications" {
  name              = "${var.name_prefix}-notifications"
  display_name      = "Smart Vault"
  kms_master_key_id = aws_kms_key.primary.arn
}

resource "aws_sns_topic_subscription" "email" {
  count = var.notification_email == null ? 0 : 1

  topic_arn = aws_sns_topic.notifications.arn
  protocol  = "email"
  endpoint  = var.notification_email
}

resource "aws_sns_topic" "dr_notifications" {
  provider = aws.dr

  name              = "${var.name_prefix}-dr-notifications"
  display_name      = "Smart Vault DR"
  kms_master_key_id = aws_kms_key.dr.arn
}

resource "aws_sns_topic_subscription" "dr_email" {
  provider = aws.dr
  count    = var.notification_email == null ? 0 : 1

  topic_arn = aws_sns_topic.dr_notifications.arn
  protocol  = "email"
  endpoint  = var.notification_email
}

data "aws_iam_policy_document" "kms_billing" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; write use is limited by principal, kms:ViaService and source conditions.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only (it cannot name any other resource).
  count = var.enable_billing_alarm ? 1 : 0

  source_policy_documents = [data.aws_iam_policy_document.account_administers_key.json] # kms.tf

  statement {
    sid       = "BillingAlarmPublishesToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "billing" {
  provider = aws.us_east_1
  count    = var.enable_billing_alarm ? 1 : 0

  description             = "Smart Vault (${var.name_prefix}) billing alarm topic in us-east-1."
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms_billing[0].json
}

resource "aws_sns_topic" "billing" {
  provider = aws.us_east_1
  count    = var.enable_billing_alarm ? 1 : 0

  name              = "${var.name_prefix}-billing"
  display_name      = "Smart Vault billing"
  kms_master_key_id = aws_kms_key.billing[0].arn
}

resource "aws_sns_topic_subscription" "billing_email" {
  provider = aws.us_east_1
  count    = var.enable_billing_alarm && var.notification_email != null ? 1 : 0

  topic_arn = aws_sns_topic.billing[0].arn
  protocol  = "email"
  endpoint  = var.notification_email
}
