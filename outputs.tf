output "restore_api_url" {
  description = "Base URL of the restore API (stage v1) in the primary region."
  value       = module.restore_primary.api_url
}

output "restore_api_key" {
  description = "API key of the primary region's restore API (x-api-key header). Read it with: terraform output -raw restore_api_key"
  value       = module.restore_primary.api_key
  sensitive   = true
}

output "dr_restore_api_url" {
  description = "Base URL of the restore API (stage v1) in the DR region; null when restore_in_dr_region is false."
  value       = one(module.restore_dr[*].api_url)
}

output "dr_restore_api_key" {
  description = "API key of the DR region's restore API; null when restore_in_dr_region is false."
  value       = one(module.restore_dr[*].api_key)
  sensitive   = true
}

output "backup_function_name" {
  description = "Name of the backup Lambda function (invoke it with {\"dry_run\": true} to preview a run)."
  value       = module.backup.function_name
}

output "notification_topic_arn" {
  description = "SNS topic of backup reports, restore results and alarms in the primary region."
  value       = aws_sns_topic.notifications.arn
}

output "dr_notification_topic_arn" {
  description = "SNS topic of the DR region's restore stack."
  value       = aws_sns_topic.dr_notifications.arn
}

output "primary_kms_key_arn" {
  description = "KMS key of the primary region (tables, topic, queues, logs)."
  value       = aws_kms_key.primary.arn
}

output "dr_kms_key_arn" {
  description = "KMS key in the DR region that encrypts every DR snapshot copy (DR_KMS_KEY_ID)."
  value       = aws_kms_key.dr.arn
}

output "backup_dlq_url" {
  description = "URL of the backup function's dead-letter queue."
  value       = module.backup.dead_letter_queue_url
}

output "role_arns" {
  description = "IAM role ARNs of every function, by stack."
  value = {
    backup  = module.backup.role_arn
    primary = module.restore_primary.role_arns
    dr      = one(module.restore_dr[*].role_arns)
    drill = merge(
      { for m in module.drill_dr : var.dr_region => m.role_arn },
      { for m in module.drill_primary : var.primary_region => m.role_arn },
    )
  }
}

output "drill_function_names" {
  description = "Drill function per drill region (region -> name); `smart-vault drill run --function <name>` starts one now."
  value = merge(
    { for m in module.drill_dr : var.dr_region => m.function_name },
    { for m in module.drill_primary : var.primary_region => m.function_name },
  )
}

output "drill_results_tables" {
  description = "Drill results table per drill region (region -> name)."
  value = merge(
    { for m in module.drill_dr : var.dr_region => m.results_table_name },
    { for m in module.drill_primary : var.primary_region => m.results_table_name },
  )
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the vault's health (recovery-point age, copy backlog, drills, failures), in the primary region."
  value       = aws_cloudwatch_dashboard.health.dashboard_name
}

output "vault_event_bus_arn" {
  description = "The vault account's event bus the backup function announces on (empty without a vault account)."
  value       = local.vault_event_bus_arn
}
