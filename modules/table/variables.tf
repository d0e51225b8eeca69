variable "name" {
  type        = string
  description = "The table's name."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.name))
    error_message = "name must be 3 to 255 letters, digits, underscores, dots or hyphens."
  }
}

variable "hash_key" {
  type        = string
  description = "The partition key (a string attribute)."
}

variable "range_key" {
  type        = string
  description = "The sort key (a string attribute); null for a table with a partition key only."
  default     = null
}

variable "ttl_attribute" {
  type        = string
  description = "The attribute holding each item's expiry (epoch seconds), as the code that writes the items sets it."
}

variable "kms_key_arn" {
  type        = string
  description = "The customer managed KMS key that encrypts the table."
}
