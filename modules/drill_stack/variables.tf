# Inputs of one drill stack (function, schedule, results table, isolated network, alarms) in the region of
# the `aws` provider it gets: the region it drills. The root module derives them from its own variables, which
# validate each value once (name_prefix, the regions, the drill_* settings); this module checks their types.

variable "name_prefix" {
  type        = string
  description = "Prefix of this stack's resource names (e.g. smart-vault-dr for the DR region's drills)."
}

variable "region" {
  type        = string
  description = "Region of this stack and of the drills; must be the region of the aws provider passed to the module."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key in this region that encrypts the results table, the logs and the environment."
}

variable "ebs_kms_key_arns" {
  type        = list(string)
  description = "Customer-managed KMS keys of the snapshots a drill restores from (in the DR region: the DR key)."
}

variable "sns_topic_arn" {
  type        = string
  description = "Topic in this region for drill reports and this stack's alarms."
}

variable "function_code" {
  type        = any
  description = "What the stack's functions run, passed unchanged to modules/function's `code` (which types and validates it): the package zip and its hash, the runtime and the Powertools layer of this region."
}

variable "drill_handler" {
  type        = string
  description = "Handler of the drill function (contract entry point)."
  default     = "smart_vault.drill.handler"
}

variable "settings" {
  type = object({
    schedule_expression      = string
    vpc_cidr                 = string
    max_instances            = number
    rotation_days            = number
    instance_type            = optional(string)
    timeout_seconds          = number
    rto_threshold_seconds    = number
    subnet_ids               = map(string)
    security_group_ids       = map(list(string))
    validation_function_arns = map(string)
    log_retention_days       = number
  })
  description = "The drills' settings, the same in every drill region (the root's drill_* variables, which document and validate each): the EventBridge schedule of the runs (UTC); the CIDR block of the drill VPC, when the module creates it (its one subnet takes the first /24); DRILL_MAX_INSTANCES, DRILL_ROTATION_DAYS, DRILL_INSTANCE_TYPE (null: the recorded type), DRILL_TIMEOUT_SECONDS; the DrillRtoSeconds alarm threshold; per region (the stack reads its own), an existing isolated subnet instead of the drill VPC, existing security groups instead of the rule-less group, and the DRILL_VALIDATION_FUNCTION Lambda ARN; the retention of the function's log group, in days."
}
