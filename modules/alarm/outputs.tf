output "name" {
  description = "The alarm's name."
  value       = aws_cloudwatch_metric_alarm.this.alarm_name
}

output "arn" {
  description = "The alarm's ARN."
  value       = aws_cloudwatch_metric_alarm.this.arn
}
