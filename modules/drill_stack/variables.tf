# Inputs of one drill stack (function, schedule, results table, isolated network, alarms) in the region of
# the `aws` provider it gets: the region it drills.

variable "name_prefix" {
  type        = string
  description = "Prefix of this stack's resource names (e.g. smart-vault-dr for the DR region's drills)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,27}$", var.name_prefix))
    error_message = "name_prefix must be 3 to 28 characters: lowercase letters, digits and hyphens."
  }
}

variable "region" {
  type        = string
  description = "Region of this stack and of the drills; must be the region of the aws provider passed to the module."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$", var.region))
    error_message = "region must be an AWS region name."
  }
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

variable "schedule_expression" {
  type        = string
  description = "EventBridge schedule of the drill runs (UTC)."
  default     = "cron(0 3 ? * SUN *)"

  validation {
    condition     = can(regex("^(cron|rate)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be an EventBridge cron(...) or rate(...) expression."
  }
}

variable "subnet_id" {
  type        = string
  description = "Existing isolated subnet for the drill instances; null creates the drill network (a VPC with one private subnet, no internet gateway)."
  default     = null

  validation {
    condition     = var.subnet_id == null || can(regex("^subnet-[0-9a-f]{8,17}$", var.subnet_id))
    error_message = "subnet_id must be a subnet id."
  }
}

variable "security_group_ids" {
  type        = list(string)
  description = "Existing security groups of the drill instances (with subnet_id); empty creates one without any rule."
  default     = []

  validation {
    condition     = length(var.security_group_ids) <= 5 && alltrue([for g in var.security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", g))])
    error_message = "security_group_ids must be at most 5 security group ids."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR block of the drill VPC, when the module creates it; its one subnet takes the first /24."
  default     = "10.250.0.0/16"

  validation {
    condition     = can(cidrsubnet(var.vpc_cidr, 8, 0))
    error_message = "vpc_cidr must be an IPv4 CIDR block of /16 to /20."
  }
}

variable "max_instances" {
  type        = number
  description = "DRILL_MAX_INSTANCES: instances drilled per run, in parallel."
  default     = 5

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 50 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number from 1 to 50."
  }
}

variable "rotation_days" {
  type        = number
  description = "DRILL_ROTATION_DAYS: an instance not drilled for this long counts as overdue."
  default     = 7

  validation {
    condition     = var.rotation_days >= 1 && var.rotation_days <= 365 && floor(var.rotation_days) == var.rotation_days
    error_message = "rotation_days must be a whole number from 1 to 365."
  }
}

variable "instance_type" {
  type        = string
  description = "DRILL_INSTANCE_TYPE: instance type of drill instances; null launches the recorded type."
  default     = null
}

variable "timeout_seconds" {
  type        = number
  description = "DRILL_TIMEOUT_SECONDS: a drill not passed by then fails (teardown always follows)."
  default     = 600

  validation {
    condition     = var.timeout_seconds >= 60 && var.timeout_seconds <= 840
    error_message = "timeout_seconds must be from 60 to 840 (Lambda's 900 s limit keeps 60 s for the teardown)."
  }
}

variable "validation_function_arn" {
  type        = string
  description = "DRILL_VALIDATION_FUNCTION: ARN of a Lambda in this region that checks a drill instance; null runs none."
  default     = null

  validation {
    condition     = var.validation_function_arn == null || can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+$", var.validation_function_arn))
    error_message = "validation_function_arn must be an unqualified Lambda function ARN."
  }
}

variable "rto_threshold_seconds" {
  type        = number
  description = "Alarm when a passed drill's DrillRtoSeconds is above this."
  default     = 480
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's log group, in days."
}
