# This stack's alarms, to the topic of its own region. The functions' Errors, Throttles and dead-letter
# alarms are the function module's (main.tf).

module "api_5xx" {
  source = "../alarm"

  name               = "${var.name_prefix}-restore-api-5xx"
  description        = "The restore API answered with server errors."
  namespace          = "AWS/ApiGateway"
  metric             = "5XXError"
  dimensions         = { ApiName = aws_api_gateway_rest_api.restore.name, Stage = aws_api_gateway_stage.v1.stage_name }
  statistic          = "Sum"
  period             = 300
  threshold          = 0
  treat_missing_data = "notBreaching"
  topic_arn          = var.sns_topic_arn
}

