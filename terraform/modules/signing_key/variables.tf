variable "alias" {
  description = "Alias of the key, without the \"alias/\" prefix (e.g. \"telemetry-prod-api-cursor\")."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias)) && !startswith(var.alias, "aws/")
    error_message = "alias must be 1-250 characters of [a-zA-Z0-9/_-] and must not start with \"aws/\" (reserved for AWS managed keys)."
  }
}

variable "description" {
  description = "Description shown on the key."
  type        = string
  default     = "Signs the read API's pagination cursors (HMAC_256, GenerateMac/VerifyMac)"

  validation {
    condition     = length(var.description) <= 8192
    error_message = "description must be at most 8192 characters (KMS limit)."
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
