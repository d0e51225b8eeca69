variable "name_prefix" {
  type        = string
  description = "Prefix of the rules, log group, metric filter and alarm."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 2 to 41 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "topic_arn" {
  type        = string
  description = "SNS topic the TAMPER notifications and the alarm go to (its policy lets EventBridge and CloudWatch publish)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.topic_arn))
    error_message = "topic_arn must be an SNS topic ARN."
  }
}

variable "trusted_arn_prefix" {
  type        = string
  description = "Calls whose principal ARN starts with this prefix (the vault's own roles' sessions) are not reported."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/.+$", var.trusted_arn_prefix))
    error_message = "trusted_arn_prefix must be an assumed-role ARN prefix."
  }
}

variable "key_ids" {
  type        = list(string)
  description = "The vault's keys as CloudTrail names them in requestParameters.keyId (ids, ARNs, aliases)."
}

variable "function_names" {
  type        = list(string)
  description = "The vault's functions, by name: the rules match every form the Lambda API takes for them (name, ARN, partial ARN, each with or without a qualifier)."
}

variable "rule_names" {
  type        = list(string)
  description = "The vault's EventBridge rules (requestParameters.name)."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the tamper log group, in days (a value CloudWatch Logs accepts)."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "Key that encrypts the tamper log group (its policy lets CloudWatch Logs use it)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "grant_role_arns" {
  type        = list(string)
  description = "IAM roles whose sessions may call CreateGrant on the keys (and no other watched call): the roles EBS creates grants for when they copy or restore a snapshot encrypted with the keys, which trusted_arn_prefix does not cover. Empty: none."
  default     = []

  validation {
    condition     = alltrue([for a in var.grant_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "grant_role_arns must list IAM role ARNs."
  }
}

variable "bus_names" {
  type        = list(string)
  description = "The vault's own event bus, by name and by ARN: its deletion and changes of its policy are reported. Empty: none (the default bus cannot be deleted)."
  default     = []
}

variable "trail_names" {
  type        = list(string)
  description = "The CloudTrail trails homed in this region that the rules depend on, by name and by ARN (requestParameters.name or trailName): StopLogging, DeleteTrail, UpdateTrail and PutEventSelectors on them are reported. Empty: no trail is watched."
  default     = []
}
