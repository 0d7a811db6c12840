variable "name" {
  description = "Schedule name; also names its role (<name>-scheduler)."
  type        = string

  validation {
    # 54 so that "<name>-scheduler" fits IAM's 64-character role name limit (Scheduler allows 64).
    condition     = can(regex("^[0-9a-zA-Z_.-]{1,54}$", var.name))
    error_message = "name must be 1-54 characters of [0-9a-zA-Z_.-]."
  }
}

variable "description" {
  description = "What the schedule runs."
  type        = string
  default     = ""

  validation {
    condition     = length(var.description) <= 512
    error_message = "description must be at most 512 characters (EventBridge Scheduler limit)."
  }
}

variable "schedule_expression" {
  description = "When to run, in UTC: cron(minutes hours day-of-month month day-of-week year) or rate(value unit)."
  type        = string
  default     = "cron(0 6 * * ? *)"

  validation {
    condition     = can(regex("^(cron\\(\\S+ \\S+ \\S+ \\S+ \\S+ \\S+\\)|rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\))$", var.schedule_expression))
    error_message = "schedule_expression must be cron() with six fields or rate(N unit)."
  }
}

variable "function_arn" {
  description = "ARN of the Lambda function the schedule invokes (and the only thing its role may invoke)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:lambda:", var.function_arn))
    error_message = "function_arn must be a Lambda function ARN."
  }
}

variable "maximum_event_age_seconds" {
  description = "Seconds Scheduler keeps retrying an invocation that failed to start (60-86400)."
  type        = number
  default     = 3600

  validation {
    condition     = var.maximum_event_age_seconds >= 60 && var.maximum_event_age_seconds <= 86400 && floor(var.maximum_event_age_seconds) == var.maximum_event_age_seconds
    error_message = "maximum_event_age_seconds must be a whole number from 60 to 86400."
  }
}

variable "maximum_retry_attempts" {
  description = "Retries of an invocation that failed to start (0-185)."
  type        = number
  default     = 3

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 185 && floor(var.maximum_retry_attempts) == var.maximum_retry_attempts
    error_message = "maximum_retry_attempts must be a whole number from 0 to 185."
  }
}

variable "tags" {
  description = "Tags for the role (schedules take no tags)."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the schedule's dead-letter queue."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}
