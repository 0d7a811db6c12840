variable "queue_name" {
  description = "Name of the work queue."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,80}$", var.queue_name))
    error_message = "queue_name must be 1-80 characters of [a-zA-Z0-9_-] (standard SQS queue)."
  }
}

variable "dlq_name" {
  description = "Name of the dead-letter queue."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,80}$", var.dlq_name))
    error_message = "dlq_name must be 1-80 characters of [a-zA-Z0-9_-] (standard SQS queue)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed key of both queues."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "kms_data_key_reuse_period_seconds" {
  description = "Seconds SQS reuses a data key before calling KMS again (60-86400)."
  type        = number
  default     = 300

  validation {
    condition     = var.kms_data_key_reuse_period_seconds >= 60 && var.kms_data_key_reuse_period_seconds <= 86400 && floor(var.kms_data_key_reuse_period_seconds) == var.kms_data_key_reuse_period_seconds
    error_message = "kms_data_key_reuse_period_seconds must be a whole number from 60 to 86400."
  }
}

variable "function_name" {
  description = "Name of the consuming function (names the poller policy)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 characters of [a-zA-Z0-9_-]."
  }
}

variable "function_arn" {
  description = "ARN of the consuming function."
  type        = string
}

variable "function_role_name" {
  description = "Name of the function's execution role, which gets the poller's permissions."
  type        = string

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.function_role_name))
    error_message = "function_role_name must be an IAM role name (1-64 characters)."
  }
}

variable "function_timeout_seconds" {
  description = "Timeout of the consuming function in seconds (1-900): the queue's visibility timeout must be at least 6x this."
  type        = number

  validation {
    condition     = var.function_timeout_seconds >= 1 && var.function_timeout_seconds <= 900 && floor(var.function_timeout_seconds) == var.function_timeout_seconds
    error_message = "function_timeout_seconds must be a whole number from 1 to 900."
  }
}

variable "visibility_timeout_seconds" {
  description = "Seconds a received message stays invisible (0-43200); at least 6x function_timeout_seconds (checked by a precondition)."
  type        = number

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200 && floor(var.visibility_timeout_seconds) == var.visibility_timeout_seconds
    error_message = "visibility_timeout_seconds must be a whole number from 0 to 43200 (12 hours, the SQS maximum)."
  }
}

variable "message_retention_seconds" {
  description = "Seconds the work queue keeps a message (60-1209600)."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600 && floor(var.message_retention_seconds) == var.message_retention_seconds
    error_message = "message_retention_seconds must be a whole number from 60 to 1209600 (14 days)."
  }
}

variable "max_receive_count" {
  description = "Receives of a message before SQS moves it to the dead-letter queue (1-1000)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number from 1 to 1000."
  }
}

variable "redrive_allow_policy_enabled" {
  description = "Restrict the DLQ to this queue with a redrive-allow policy. Must be false against the sandbox (moto cannot serve it; the apply hangs)."
  type        = bool
  default     = true
}

variable "batch_size" {
  description = "Most messages per invocation (SQS standard queue: 1-10000; above 10 needs a batching window)."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number from 1 to 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "Seconds Lambda may wait to fill a batch (0-300)."
  type        = number
  default     = 1

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300 && floor(var.maximum_batching_window_in_seconds) == var.maximum_batching_window_in_seconds
    error_message = "maximum_batching_window_in_seconds must be a whole number from 0 to 300."
  }
}

variable "maximum_concurrency" {
  description = "Most concurrent invocations the SQS poller starts (scaling_config.maximum_concurrency, 2-1000)."
  type        = number
  default     = 5

  validation {
    condition     = var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000 && floor(var.maximum_concurrency) == var.maximum_concurrency
    error_message = "maximum_concurrency must be a whole number from 2 to 1000 (AWS limits for SQS event sources)."
  }
}

variable "delay_seconds" {
  description = "Seconds each new message stays invisible before its first delivery (0-900, SQS's range): lets jobs sent meanwhile coalesce."
  type        = number
  default     = 0

  validation {
    condition     = var.delay_seconds >= 0 && var.delay_seconds <= 900 && floor(var.delay_seconds) == var.delay_seconds
    error_message = "delay_seconds must be a whole number of seconds from 0 to 900."
  }
}

variable "tags" {
  description = "Tags for both queues."
  type        = map(string)
  default     = {}
}
