# The variables every customer-managed key module takes, written once: signing_key/key_variables.tf is a link
# to this file (a module's variables can only come from its own directory).

variable "alias" {
  description = "Alias of the key, without the \"alias/\" prefix (e.g. \"telemetry-prod\", \"telemetry-prod-api-cursor\")."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias must be 1-250 characters of [a-zA-Z0-9/_-] and must not start with \"aws/\" (reserved for AWS managed keys)."
  }
}

variable "deletion_window_in_days" {
  description = "Days a scheduled deletion waits before the key is destroyed (KMS allows 7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30 && floor(var.deletion_window_in_days) == var.deletion_window_in_days
    error_message = "deletion_window_in_days must be a whole number from 7 to 30."
  }
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
}
