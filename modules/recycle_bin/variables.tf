variable "description" {
  type        = string
  description = "The rule's description."
}

variable "retention_days" {
  type        = number
  description = "How many days a deleted managed snapshot stays in the Recycle Bin; 0 for no rule."
}

variable "unlock_delay_days" {
  type        = number
  description = "The days an unlocked rule stays locked before it can be deleted or shortened; null for an unlocked rule."
  default     = null
}
