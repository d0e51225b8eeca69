variable "name" {
  type        = string
  description = "The alarm's name."
}

variable "description" {
  type        = string
  description = "What the alarm means, for whoever it wakes."
}

variable "namespace" {
  type        = string
  description = "The metric's namespace (SmartVault, AWS/Lambda, AWS/SQS, AWS/ApiGateway, AWS/Billing)."
}

variable "metric" {
  type        = string
  description = "The metric's name."
}

variable "dimensions" {
  type        = map(string)
  description = "The metric's dimensions, exactly as the metric is emitted (an alarm on other dimensions never gets data)."
}

variable "statistic" {
  type        = string
  description = "The statistic compared with the threshold."

  validation {
    condition     = contains(["Sum", "Maximum", "Minimum", "Average", "SampleCount"], var.statistic)
    error_message = "statistic must be Sum, Maximum, Minimum, Average or SampleCount."
  }
}

variable "period" {
  type        = number
  description = "The period of one datapoint, in seconds (one datapoint is evaluated)."

  validation {
    condition     = var.period >= 60 && var.period % 60 == 0
    error_message = "period must be a multiple of 60 seconds."
  }
}

variable "datapoints_to_alarm" {
  type        = number
  description = "Datapoints that must breach to alarm; null leaves it to the evaluation period."
  default     = null
}

variable "threshold" {
  type        = number
  description = "The threshold the statistic is compared with (see comparison)."
}

variable "comparison" {
  type        = string
  description = "How the statistic is compared with the threshold."
  default     = "GreaterThanThreshold"

  validation {
    condition     = contains(["GreaterThanThreshold", "GreaterThanOrEqualToThreshold"], var.comparison)
    error_message = "comparison must be GreaterThanThreshold or GreaterThanOrEqualToThreshold (every alarm here watches a count or an age that must stay low)."
  }
}

variable "treat_missing_data" {
  type        = string
  description = "How a period without data counts."

  validation {
    condition     = contains(["missing", "ignore", "breaching", "notBreaching"], var.treat_missing_data)
    error_message = "treat_missing_data must be missing, ignore, breaching or notBreaching."
  }
}

variable "topic_arn" {
  type        = string
  description = "SNS topic the alarm notifies."
}

variable "notify_ok" {
  type        = bool
  description = "Also notify when the alarm clears."
  default     = false
}

variable "notify_insufficient_data" {
  type        = bool
  description = "Also notify when the alarm has too little data to decide."
  default     = false
}
