variable "region" {
  description = "AWS region of the state bucket (the envs' backend blocks name it too)."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "bucket_name" {
  description = "Name of the state bucket (globally unique: 3-63 lowercase letters, digits, dots and hyphens). Default: telemetry-pipeline-tfstate-<account id>."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits, dots and hyphens."
  }
}

variable "noncurrent_version_expiry_days" {
  description = "Days an overwritten state version is kept (to roll back a bad apply), 1-3650."
  type        = number
  default     = 365

  validation {
    condition     = var.noncurrent_version_expiry_days >= 1 && var.noncurrent_version_expiry_days <= 3650 && floor(var.noncurrent_version_expiry_days) == var.noncurrent_version_expiry_days
    error_message = "noncurrent_version_expiry_days must be a whole number of days from 1 to 3650."
  }
}
