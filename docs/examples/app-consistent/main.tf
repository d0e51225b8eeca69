# Example: the two Smart Vault script documents, tagged so that the backup function may run them.
# Apply it in the account and region of the backup function, then tag an instance
# Backup-Scripts=smart-vault-linux-fsfreeze (or smart-vault-mysql-flush-lock).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to both documents."
  default     = {}
}

locals {
  # The backup role's IAM allows ssm:SendCommand only on documents with this tag (backup_iam.tf).
  scripts_tag = { "smart-vault:scripts" = "true" }
}

resource "aws_ssm_document" "linux_fsfreeze" {
  name            = "smart-vault-linux-fsfreeze"
  document_type   = "Command"
  document_format = "YAML"
  content         = file("${path.module}/linux-fsfreeze.yaml")
  tags            = merge(var.tags, local.scripts_tag)
}

resource "aws_ssm_document" "mysql_flush_lock" {
  name            = "smart-vault-mysql-flush-lock"
  document_type   = "Command"
  document_format = "YAML"
  content         = file("${path.module}/mysql-flush-lock.yaml")
  tags            = merge(var.tags, local.scripts_tag)
}

output "document_names" {
  description = "The values to put in an instance's Backup-Scripts tag."
  value       = [aws_ssm_document.linux_fsfreeze.name, aws_ssm_document.mysql_flush_lock.name]
}
