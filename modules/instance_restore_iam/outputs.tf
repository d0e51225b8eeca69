output "json" {
  description = "The policy document (JSON) of the instance-restore engine, one inline policy of the role."
  value       = data.aws_iam_policy_document.this.json
}
