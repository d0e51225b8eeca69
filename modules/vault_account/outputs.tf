output "vault_event_bus_arn" {
  description = "The bus the workload's backup function announces shared DR copies on (VAULT_EVENT_BUS_ARN)."
  value       = aws_cloudwatch_event_bus.vault.arn
}

output "vault_function_name" {
  description = "Name of the vault function."
  value       = module.vault.function_name
}

output "vault_role_arn" {
  description = "The vault function's role (the one principal whose every call the tamper rules trust)."
  value       = module.vault.role_arn
}

output "vault_kms_key_arn" {
  description = "The vault key that encrypts every vault copy."
  value       = aws_kms_key.vault.arn
}

output "vault_topic_arn" {
  description = "The vault's notification topic (reports, alarms, TAMPER notifications)."
  value       = aws_sns_topic.vault.arn
}
