variable "name" {
  type        = string
  description = "The topic's name."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,256}$", var.name))
    error_message = "name must be 1 to 256 letters, digits, hyphens or underscores (a standard SNS topic)."
  }
}

variable "display_name" {
  type        = string
  description = "The sender name of the topic's email notifications; null leaves it unset."
  default     = null
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key of the topic's region that encrypts its messages."
}

variable "email" {
  type        = string
  description = "Address subscribed to the topic (AWS mails it a confirmation); null subscribes none."
  default     = null
}
