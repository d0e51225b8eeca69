variable "description" {
  type        = string
  description = "The rule's description."
}

variable "retention_days" {
  type        = number
  description = "How many days a deleted snapshot stays in the Recycle Bin; 0 for no rule."
}

variable "unlock_delay_days" {
  type        = number
  description = "Locks the rule, which makes it Region-level (every snapshot of the region; AWS locks no tag-level rule): the days an unlocked rule stays locked before it can be modified or deleted (7 to 30). Null: an unlocked rule for the snapshots tagged ManagedBy=smart-vault."
  default     = null
}
