output "rule_names" {
  description = "The tamper rules, by the kind of call they watch."
  value       = { for k, r in aws_cloudwatch_event_rule.tamper : k => r.name }
}

output "alarm_name" {
  description = "The alarm that fires on the first TamperEvents datapoint."
  value       = module.alarm.name
}
