output "function_name" {
  description = "Name of the drill function (invoke it with {\"instance_ids\": [...]} or {\"dry_run\": true})."
  value       = module.drill.function_name
}

output "results_table_name" {
  description = "Name of the drill results table (DRILL_RESULTS_TABLE of this region's restore API)."
  value       = module.results.name
}

output "results_table_arn" {
  description = "ARN of the drill results table."
  value       = module.results.arn
}

output "subnet_id" {
  description = "Subnet the drill instances launch into."
  value       = local.subnet_id
}

output "security_group_ids" {
  description = "Security groups of the drill instances."
  value       = local.security_group_ids
}

output "role_arn" {
  description = "ARN of the drill function's role."
  value       = module.drill.role_arn
}

output "schedule_rule_name" {
  description = "Name of the EventBridge rule that starts the scheduled drills (the tamper alarms watch it)."
  value       = aws_cloudwatch_event_rule.schedule.name
}
