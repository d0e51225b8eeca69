variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name in the vault account."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2 to 31 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "The region of the vault (the workload's DR region): copies, function, key and bus live here."

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$", var.region))
    error_message = "region must be an AWS region name."
  }
}

variable "source_account_ids" {
  type        = list(string)
  description = "Workload accounts whose announcements and shared snapshots the vault accepts (SOURCE_ACCOUNT_IDS)."

  validation {
    condition     = length(var.source_account_ids) > 0 && alltrue([for a in var.source_account_ids : can(regex("^[0-9]{12}$", a))])
    error_message = "source_account_ids must list at least one 12-digit account id."
  }
}

variable "source_kms_key_arns" {
  type        = list(string)
  description = "The workload accounts' DR keys (their policies grant the vault account use for copies): the vault role may use them through EBS only."

  validation {
    condition     = length(var.source_kms_key_arns) > 0 && alltrue([for k in var.source_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", k))])
    error_message = "source_kms_key_arns must list KMS key ARNs."
  }
}

variable "key_administrator_arns" {
  type        = list(string)
  description = "Principals of the vault account that administer the vault key (put its policy, schedule its deletion). Include the role Terraform applies this stack with."

  validation {
    condition     = length(var.key_administrator_arns) > 0 && alltrue([for a in var.key_administrator_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "key_administrator_arns must list at least one IAM role or user ARN."
  }
}

variable "recovery_role_arns" {
  type        = list(string)
  description = "Roles of the vault account that restore from the vault copies (the restore worker's and the drill's of the stacks deployed here): the vault key's policy lets them use it through EC2. They must exist before they are named (KMS refuses a policy naming an unknown principal). Empty: none."
  default     = []

  validation {
    condition     = alltrue([for a in var.recovery_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "recovery_role_arns must list IAM role ARNs."
  }
}

variable "tamper_trail_arns" {
  type        = list(string)
  description = "The CloudTrail trails of the vault account homed in `region` that its tamper rules depend on: StopLogging, DeleteTrail, UpdateTrail and PutEventSelectors on them are reported. Empty: no trail is watched."
  default     = []

  validation {
    condition     = alltrue([for a in var.tamper_trail_arns : can(regex("^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:[0-9]{12}:trail/.+$", a)) && try(split(":", a)[3], "") == var.region])
    error_message = "tamper_trail_arns must list trail ARNs homed in the vault's region."
  }
}

variable "function_code" {
  type        = any
  description = "What the stack's functions run, passed unchanged to modules/function's `code` (which types and validates it): the package zip and its hash, the runtime and the Powertools layer of this region."
}

variable "retention_days" {
  type        = number
  description = "Age in days after which vault copies may be pruned (RETENTION_DAYS of the vault function)."
  default     = 35

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 3650 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number from 1 to 3650."
  }
}

variable "min_snapshots_kept" {
  type        = number
  description = "Newest completed vault copies per source volume that are never pruned (MIN_SNAPSHOTS_KEPT)."
  default     = 1

  validation {
    condition     = var.min_snapshots_kept >= 1 && var.min_snapshots_kept <= 1000 && floor(var.min_snapshots_kept) == var.min_snapshots_kept
    error_message = "min_snapshots_kept must be a whole number from 1 to 1000."
  }
}

variable "max_concurrent_copies" {
  type        = number
  description = "Most vault copies pending at once (MAX_CONCURRENT_COPIES; AWS allows 20 per destination region)."
  default     = 20

  validation {
    condition     = var.max_concurrent_copies >= 1 && var.max_concurrent_copies <= 20 && floor(var.max_concurrent_copies) == var.max_concurrent_copies
    error_message = "max_concurrent_copies must be a whole number from 1 to 20."
  }
}

variable "lock_mode" {
  type        = string
  description = "EBS Snapshot Lock mode of every vault copy (LOCK_MODE): none, governance or compliance."
  default     = "compliance"

  validation {
    condition     = contains(["none", "governance", "compliance"], var.lock_mode)
    error_message = "lock_mode must be none, governance or compliance."
  }
}

variable "lock_cool_off_hours" {
  type        = number
  description = "Cooling-off period of the vault's compliance locks, 0 to 72 hours (LOCK_COOL_OFF_HOURS)."
  default     = 24

  validation {
    condition     = var.lock_cool_off_hours >= 0 && var.lock_cool_off_hours <= 72 && floor(var.lock_cool_off_hours) == var.lock_cool_off_hours
    error_message = "lock_cool_off_hours must be a whole number from 0 to 72."
  }
}

variable "reconcile_schedule" {
  type        = string
  description = "EventBridge schedule of the vault's reconciliation."
  default     = "rate(30 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.reconcile_schedule))
    error_message = "reconcile_schedule must be an EventBridge rate(...) or cron(...) expression."
  }
}

variable "notification_email" {
  type        = string
  description = "E-mail address subscribed to the vault's topic (reports, alarms, TAMPER notifications); null for none."
  default     = null

  validation {
    condition     = var.notification_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.notification_email))
    error_message = "notification_email must be an e-mail address or null."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the vault function's and the tamper log groups, in days."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "key_deletion_window_days" {
  type        = number
  description = "Waiting period before a scheduled deletion of the vault key takes effect (7 to 30 days)."
  default     = 30

  validation {
    condition     = var.key_deletion_window_days >= 7 && var.key_deletion_window_days <= 30 && floor(var.key_deletion_window_days) == var.key_deletion_window_days
    error_message = "key_deletion_window_days must be a whole number from 7 to 30."
  }
}

variable "recycle_bin_retention_days" {
  type        = number
  description = "Days a deleted vault copy stays in the Recycle Bin (0: no Recycle Bin rule)."
  default     = 7

  validation {
    condition     = var.recycle_bin_retention_days >= 0 && var.recycle_bin_retention_days <= 365 && floor(var.recycle_bin_retention_days) == var.recycle_bin_retention_days
    error_message = "recycle_bin_retention_days must be a whole number from 0 to 365."
  }
}
