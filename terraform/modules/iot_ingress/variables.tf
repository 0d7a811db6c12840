variable "name_prefix" {
  description = "Prefix of every name (thing type, policy, rule, queue, roles)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 1-40 characters of [a-zA-Z0-9-] (it also names an IoT rule, where '-' becomes '_')."
  }
}

variable "topic_prefix" {
  description = "First level of the telemetry topic: devices publish to <topic_prefix>/<tenant>/<device id>/telemetry."
  type        = string
  default     = "dt"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,32}$", var.topic_prefix)) && !startswith(var.topic_prefix, "$")
    error_message = "topic_prefix must be 1-32 characters of [a-zA-Z0-9_-] (no '$': reserved topics, no '/', '+' or '#')."
  }
}

variable "stream_name" {
  description = "Name of the ingest Kinesis stream the rule writes to."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,128}$", var.stream_name))
    error_message = "stream_name must be 1-128 characters of [a-zA-Z0-9_.-] (Kinesis stream name rule)."
  }
}

variable "stream_arn" {
  description = "ARN of that stream (the one resource the rule's role may PutRecord to)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kinesis:", var.stream_arn))
    error_message = "stream_arn must be a Kinesis stream ARN."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed key of the stream and of the error queue."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags for the queue, roles and rule."
  type        = map(string)
  default     = {}
}
