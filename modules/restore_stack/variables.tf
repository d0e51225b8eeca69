# Inputs of one restore stack (API, handler, worker, tables) in the region of the `aws` provider it gets. The
# root module derives them from its own variables, which validate each value once (name_prefix, the two
# regions, the settings); this module checks their types and that the two regions differ.

variable "name_prefix" {
  type        = string
  description = "Prefix of this stack's resource names; the DR stack gets its own (e.g. smart-vault-dr)."
}

variable "region" {
  type        = string
  description = "Region of this stack; must be the region of the aws provider passed to the module."
}

variable "peer_region" {
  type        = string
  description = "The other region a restore may target (DR_REGION of the restore API); must differ from region."

  validation {
    condition     = var.peer_region != var.region
    error_message = "peer_region must differ from region."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key in this region that encrypts the tables, the dead-letter queue, the logs and the environment."
}

variable "ebs_kms_key_arns" {
  type        = list(string)
  description = "Customer-managed KMS keys of the snapshots a restore may read (the DR key, the source volumes' keys)."
}

variable "sns_topic_arn" {
  type        = string
  description = "Topic in this region for restore results and this stack's alarms."
}

variable "function_code" {
  type        = any
  description = "What the stack's functions run, passed unchanged to modules/function's `code` (which types and validates it): the package zip and its hash, the runtime and the Powertools layer of this region."
}

variable "api_handler" {
  type        = string
  description = "Handler of the restore API function (contract entry point)."
  default     = "smart_vault.restore_api.handler"
}

variable "worker_handler" {
  type        = string
  description = "Handler of the restore worker function (contract entry point)."
  default     = "smart_vault.restore_worker.handler"
}

variable "openapi_template_path" {
  type        = string
  description = "Path of openapi.yaml; its integrations use $${restore_api_invoke_arn} for the API function."
}

variable "settings" {
  type = object({
    allowed_instance_types        = list(string)
    allowed_subnet_ids            = list(string)
    restore_networks              = map(object({ subnet_id = optional(string), security_group_ids = optional(list(string)) }))
    allowed_instance_profile_arns = list(string)
    snapshot_price_per_gb_month   = number
    api_throttle_rate_limit       = number
    api_throttle_burst            = number
    api_quota_per_day             = number
    log_retention_days            = number
    reserved_concurrency          = optional(number)
  })
  description = "The restore settings, the same on both stacks (the root's variables, which document and validate each): ALLOWED_INSTANCE_TYPES; ALLOWED_SUBNET_IDS (empty allows any); RESTORE_NETWORKS (per region, where full-instance restores of sets taken in another region land by default); ALLOWED_INSTANCE_PROFILE_ARNS (the instance profiles a restored instance may get); the USD per GB-month of standard snapshot storage, for the recovery points' cost estimates; the API key's steady-state requests per second, burst and requests per day; the retention of the functions' and the API's log groups, in days; the reserved concurrency of each of the two functions (null reserves none, the root's default, see restore_reserved_concurrency)."
}

variable "api_gateway_logging" {
  type = object({
    role_arn               = string
    role_policy_attachment = string
  })
  description = "The role API Gateway uses to write logs in this region (set on the regional API Gateway account), and the ID of the policy attachment that lets it write to CloudWatch Logs (the setting waits for it: API Gateway checks the role when the setting is made); null leaves that setting alone. One object, not two strings: on a first apply the role's ARN is unknown at plan time, and the object is known to be there even so (a count on a null test of the ARN itself could not be planned)."
  default     = null
}

variable "drill_results_table_arn" {
  type        = string
  description = "ARN of the drill results table in this region (GET /drills reads it); null when no drill runs here (GET /drills then answers 404 NotConfigured)."
  default     = null
}

variable "change_ledger_table_arn" {
  type        = string
  description = "ARN of the backup's copy ledger table when it is in this region (GET /recovery-points reads the primary snapshots' measured changes from it); null elsewhere."
  default     = null
}
