variable "stream_arn" {
  description = "ARN of the Kinesis stream to consume."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/", var.stream_arn))
    error_message = "stream_arn must be a Kinesis stream ARN."
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

variable "kms_key_arn" {
  description = "ARN of the customer-managed key of the stream and the failure queue."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "failure_queue_name" {
  description = "Name of the on-failure destination queue."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,80}$", var.failure_queue_name))
    error_message = "failure_queue_name must be 1-80 characters of [a-zA-Z0-9_-] (standard SQS queue)."
  }
}

variable "batch_size" {
  description = "Most records per invocation (Kinesis source: 1-10000)."
  type        = number
  default     = 100

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

variable "parallelization_factor" {
  description = "Concurrent batches per shard, order kept per partition key (1-10)."
  type        = number
  default     = 1

  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10 && floor(var.parallelization_factor) == var.parallelization_factor
    error_message = "parallelization_factor must be a whole number from 1 to 10."
  }
}

variable "maximum_retry_attempts" {
  description = "Retries of a failed record before it goes to the failure queue: finite, 0-10000 (AWS's -1 = forever is refused: a poison record would block its shard)."
  type        = number
  default     = 3

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 10000 && floor(var.maximum_retry_attempts) == var.maximum_retry_attempts
    error_message = "maximum_retry_attempts must be a whole number from 0 to 10000 (-1, infinite retries, is not allowed)."
  }
}

variable "maximum_record_age_in_seconds" {
  description = "Seconds after which a record is given up and reported to the failure queue: 60-604800 (AWS's -1 = never is refused)."
  type        = number
  default     = 3600

  validation {
    condition     = var.maximum_record_age_in_seconds >= 60 && var.maximum_record_age_in_seconds <= 604800 && floor(var.maximum_record_age_in_seconds) == var.maximum_record_age_in_seconds
    error_message = "maximum_record_age_in_seconds must be a whole number from 60 to 604800 (-1, no limit, is not allowed)."
  }
}

variable "tags" {
  description = "Tags for the failure queue."
  type        = map(string)
  default     = {}
}
