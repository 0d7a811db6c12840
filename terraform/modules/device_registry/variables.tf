variable "name" {
  description = "Table name."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.name))
    error_message = "name must be 3-255 characters of [a-zA-Z0-9_.-] (DynamoDB table name rule)."
  }
}

variable "tenant_index_name" {
  description = "Name of the global secondary index keyed by tenant (hash) and device_id (range)."
  type        = string
  default     = "by_tenant"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.tenant_index_name))
    error_message = "tenant_index_name must be 3-255 characters of [a-zA-Z0-9_.-] (DynamoDB index name rule)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key for server-side encryption."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
