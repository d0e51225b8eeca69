variable "function_name" {
  type        = string
  description = "The function's name; its role, log group and alarms are named after it."

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1 to 64 letters, digits, hyphens or underscores."
  }
}

variable "description" {
  type        = string
  description = "The function's description."
}

variable "role_description" {
  type        = string
  description = "The description of the function's execution role: what the role may do."
}

variable "handler" {
  type        = string
  description = "The handler, `package.module.function` (the contract's entry point)."

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_.]*\\.[a-z_][a-z0-9_]*$", var.handler))
    error_message = "handler must be a dotted Python path ending in the function's name."
  }
}

variable "code" {
  type = object({
    zip_path = string
    zip_hash = string
    runtime  = string
    layers   = list(string)
  })
  description = "What the function runs, the same for every function of a region: the Lambda deployment zip (the root module's archive_file), its base64 SHA-256 (a code change redeploys the function), the Python runtime and the layer version ARNs (the Powertools layer of the region)."

  validation {
    condition     = can(regex("^python3\\.[0-9]+$", var.code.runtime))
    error_message = "code.runtime must be a Python 3 Lambda runtime."
  }
}

variable "memory_size" {
  type        = number
  description = "Memory of the function, in MB."

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be 128 to 10240 MB."
  }
}

variable "timeout" {
  type        = number
  description = "Timeout of one invocation, in seconds."

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be 1 to 900 seconds (Lambda's limit)."
  }
}

variable "reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of the function; null reserves none."
  default     = null

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 1, false)
    error_message = "reserved_concurrency must be null or at least 1."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key of the function's region: encrypts its environment, its log group and its dead-letter queue."
}

variable "key_services" {
  type        = list(string)
  description = "The services besides Lambda (the environment) and SQS (the dead-letter queue) that encrypt the function's data with kms_key_arn, e.g. [\"dynamodb\", \"sns\"] for the caller's tables and topic: the role gets the `kms` policy, which lets it use the key through these services only. null: no such policy (the caller grants the key's use: the backup role's own `kms` policy, the vault key's policy)."
  default     = null

  validation {
    condition     = var.key_services == null || try(alltrue([for s in var.key_services : contains(["dynamodb", "sns"], s)]), false)
    error_message = "key_services may name dynamodb and sns (the module adds lambda, and sqs with a dead-letter queue)."
  }
}

variable "environment" {
  type        = map(string)
  description = "The function's environment variables."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the function's log group, in days."

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "policies" {
  type        = map(string)
  description = "The inline policies of the function's role besides its log group's (`logs`) and its key's (`kms`, with key_services): name => policy document JSON, one document per concern."

  validation {
    condition     = !contains(keys(var.policies), "logs") && (var.key_services == null || !contains(keys(var.policies), "kms"))
    error_message = "policies must not name `logs`, nor `kms` with key_services: the module writes those policies itself."
  }
}

variable "async_invocation" {
  type = object({
    maximum_retry_attempts        = number
    maximum_event_age_in_seconds  = number
    dead_letter_queue_name        = optional(string)
    dead_letter_alarm_description = optional(string)
    dead_letter_event_rule_arns   = optional(list(string))
  })
  description = "Asynchronous invocation settings; with dead_letter_queue_name, failed invocations go to that encrypted queue (and with dead_letter_alarm_description, an alarm watches it; with dead_letter_event_rule_arns, the queue's policy lets EventBridge send those rules' undeliverable events there). null for a function only invoked synchronously."
  default     = null

  validation {
    condition     = var.async_invocation == null || try(var.async_invocation.maximum_retry_attempts >= 0 && var.async_invocation.maximum_retry_attempts <= 2 && var.async_invocation.maximum_event_age_in_seconds >= 60 && var.async_invocation.maximum_event_age_in_seconds <= 21600, false)
    error_message = "async_invocation: maximum_retry_attempts must be 0 to 2, maximum_event_age_in_seconds 60 to 21600 (Lambda's limits)."
  }
}

variable "alarms" {
  type        = map(string)
  description = "The function's standard alarms: Lambda metric (Errors, Throttles) => alarm description. Each alarms on any datapoint above zero in 5 minutes."
  default     = {}

  validation {
    condition     = alltrue([for metric in keys(var.alarms) : contains(["Errors", "Throttles"], metric)])
    error_message = "alarms may name the metrics Errors and Throttles."
  }
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic the function's alarms notify."
}
