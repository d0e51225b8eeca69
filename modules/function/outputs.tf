output "function_name" {
  description = "The function's name."
  value       = aws_lambda_function.this.function_name
}

output "arn" {
  description = "The function's ARN (event targets, permissions)."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "The function's invoke ARN (API Gateway integrations)."
  value       = aws_lambda_function.this.invoke_arn
}

output "role_arn" {
  description = "The ARN of the function's execution role (key policies that name it)."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "The name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "dead_letter_queue_arn" {
  description = "The ARN of the function's dead-letter queue, null when it has none."
  value       = one(aws_sqs_queue.dlq[*].arn)
}

output "dead_letter_queue_url" {
  description = "The URL of the function's dead-letter queue, null when it has none (queue policies)."
  value       = one(aws_sqs_queue.dlq[*].url)
}
