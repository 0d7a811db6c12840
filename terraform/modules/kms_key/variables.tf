variable "description" {
  description = "Description shown on the key."
  type        = string
  default     = "Telemetry pipeline data key (stream, table, queues, quarantine, logs, Lambda environment)"

  validation {
    condition     = length(var.description) <= 8192
    error_message = "description must be at most 8192 characters (KMS limit)."
  }
}

variable "log_group_name_pattern" {
  description = "Log group names (ArnLike wildcard, e.g. \"/aws/lambda/telemetry-prod-*\") whose CloudWatch Logs encryption may use the key."
  type        = string
  default     = "*"

  validation {
    condition     = length(var.log_group_name_pattern) >= 1 && length(var.log_group_name_pattern) <= 512
    error_message = "log_group_name_pattern must be 1-512 characters (log group names are at most 512)."
  }
}
