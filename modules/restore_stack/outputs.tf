output "api_url" {
  description = "Base URL of the restore API stage v1 (POST <url>/restore, GET <url>/restore/{restore_id})."
  value       = aws_api_gateway_stage.v1.invoke_url
}

output "api_key" {
  description = "API key of the restore API, sent as the x-api-key header."
  value       = aws_api_gateway_api_key.restore.value
  sensitive   = true
}

output "restore_api_function_name" {
  description = "Name of the restore API Lambda function."
  value       = module.restore_api.function_name
}

output "restore_worker_function_name" {
  description = "Name of the restore worker Lambda function."
  value       = module.restore_worker.function_name
}

output "restore_jobs_table" {
  description = "DynamoDB table of restore jobs."
  value       = module.restore_jobs.name
}

output "idempotency_table" {
  description = "DynamoDB table of the API's idempotency records."
  value       = module.idempotency.name
}

output "worker_dlq_url" {
  description = "URL of the worker's dead-letter queue (failed asynchronous restores)."
  value       = module.restore_worker.dead_letter_queue_url
}

output "role_arns" {
  description = "IAM role ARNs of the two functions."
  value = {
    restore_api    = module.restore_api.role_arn
    restore_worker = module.restore_worker.role_arn
  }
}
