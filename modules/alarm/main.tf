# One CloudWatch metric alarm. Every alarm of the project is an instance of this module (the functions'
# standard alarms through modules/function), so they are all written one way.

resource "aws_cloudwatch_metric_alarm" "this" {
  alarm_name                = var.name
  alarm_description         = var.description
  namespace                 = var.namespace
  metric_name               = var.metric
  dimensions                = var.dimensions
  statistic                 = var.statistic
  period                    = var.period
  evaluation_periods        = 1
  datapoints_to_alarm       = var.datapoints_to_alarm
  threshold                 = var.threshold
  comparison_operator       = var.comparison
  treat_missing_data        = var.treat_missing_data
  alarm_actions             = [var.topic_arn]
  ok_actions                = var.notify_ok ? [var.topic_arn] : null
  insufficient_data_actions = var.notify_insufficient_data ? [var.topic_arn] : null
}
