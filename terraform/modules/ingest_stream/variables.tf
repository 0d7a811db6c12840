variable "name" {
  description = "Stream name."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,128}$", var.name))
    error_message = "name must be 1-128 characters of [a-zA-Z0-9_.-] (Kinesis stream name rule)."
  }
}

variable "stream_mode" {
  description = "PROVISIONED (shard_count shards, resharded by opsctl) or ON_DEMAND (AWS manages shards)."
  type        = string
  default     = "PROVISIONED"

  validation {
    condition     = contains(["PROVISIONED", "ON_DEMAND"], var.stream_mode)
    error_message = "stream_mode must be PROVISIONED or ON_DEMAND."
  }
}

variable "shard_count" {
  description = "Open shards when stream_mode is PROVISIONED (ignored for ON_DEMAND). Only the initial count: later reshards are opsctl's."
  type        = number
  default     = 1

  validation {
    condition     = var.shard_count >= 1 && var.shard_count <= 10000 && floor(var.shard_count) == var.shard_count
    error_message = "shard_count must be a whole number from 1 to 10000 (Kinesis per-stream limit)."
  }
}

variable "retention_period_hours" {
  description = "Hours a record stays readable (Kinesis allows 24-8760)."
  type        = number
  default     = 24

  validation {
    condition     = var.retention_period_hours >= 24 && var.retention_period_hours <= 8760 && floor(var.retention_period_hours) == var.retention_period_hours
    error_message = "retention_period_hours must be a whole number of hours from 24 to 8760."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the stream."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags for the stream."
  type        = map(string)
  default     = {}
}
