variable "regions" {
  type        = list(string)
  description = "The regions the role restores into: the restore stack's own and its peer, the drill stack's own (the root's regions, validated there)."
}

variable "ebs_kms_key_arns" {
  type        = list(string)
  description = "Customer-managed KMS keys of the snapshots a restore may read (the DR key, the source volumes' keys)."
}

variable "managed_by_tag" {
  type        = object({ key = string, value = string })
  description = "The tag of everything the vault owns: the engine creates only with it and removes only what carries it."
  default     = { key = "ManagedBy", value = "smart-vault" }
}
