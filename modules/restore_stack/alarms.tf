# This stack's alarms, to the topic of its own region. The functions' Errors, Throttles and dead-letter
# alarms are the function module's (main.tf).

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${var.name_prefix}-restore-api-5xx"
  alarm_description   = "The restore API answered with server errors."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = aws_api_gateway_rest_api.restore.name, Stage = aws_api_gateway_stage.v1.stage_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.sns_topic_arn]
}
