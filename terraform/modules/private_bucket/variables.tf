variable "purpose" {
  description = "What the bucket holds, in the name of its expiry rule (expire-<purpose>), e.g. quarantine or reports."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,40}$", var.purpose))
    error_message = "purpose must be 1-41 characters of a-z, 0-9 and -, starting with a letter."
  }
}

variable "bucket_name" {
  description = "Bucket name (globally unique: include the account id and region)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !can(regex("\\.\\.|^\\d+\\.\\d+\\.\\d+\\.\\d+$|^xn--|-s3alias$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of [a-z0-9.-], start and end with a letter or digit, and follow the S3 naming rules."
  }
}

variable "prefix" {
  description = "Key prefix of the objects (the writing function's QUARANTINE_PREFIX or REPORTS_PREFIX), ending in \"/\"."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*/$", var.prefix)) && length(var.prefix) <= 512
    error_message = "prefix must be one or more path segments of [A-Za-z0-9_.=-] ending in \"/\", at most 512 characters."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key for SSE-KMS."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "expiry_days" {
  description = "Days an object under the prefix is kept before it expires (current version)."
  type        = number
  default     = 90

  validation {
    condition     = var.expiry_days >= 1 && var.expiry_days <= 3650 && floor(var.expiry_days) == var.expiry_days
    error_message = "expiry_days must be a whole number of days from 1 to 3650."
  }
}

variable "noncurrent_version_expiry_days" {
  description = "Days an overwritten or deleted version of an object is kept."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiry_days >= 1 && var.noncurrent_version_expiry_days <= 3650 && floor(var.noncurrent_version_expiry_days) == var.noncurrent_version_expiry_days
    error_message = "noncurrent_version_expiry_days must be a whole number of days from 1 to 3650."
  }
}

variable "deny_insecure_transport" {
  description = "Bucket policy denying every request not made over TLS. Off only for the sandbox: moto serves plain HTTP and enforces bucket-policy denies, so it would refuse every write."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds objects (sandbox only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}
