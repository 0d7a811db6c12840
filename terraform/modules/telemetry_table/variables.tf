variable "name" {
  description = "Table name."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.name))
    error_message = "name must be 3-255 characters of [a-zA-Z0-9_.-] (DynamoDB table name rule)."
  }
}

variable "range_key" {
  description = "Name of the numeric range key, in epoch milliseconds: \"ts\" for readings, \"hour_start\" for rollups."
  type        = string
  default     = "ts"

  validation {
    condition     = contains(["ts", "hour_start"], var.range_key)
    error_message = "range_key must be \"ts\" (readings) or \"hour_start\" (hourly rollups): the names docs/architecture.md defines."
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

variable "billing_mode" {
  description = "PAY_PER_REQUEST (on demand) or PROVISIONED (read_capacity/write_capacity, or auto scaled). A switch is an in-place update of the same table. AWS allows PROVISIONED to PAY_PER_REQUEST up to 4 times in a rolling 24 hours, PAY_PER_REQUEST to PROVISIONED at any time (DynamoDB developer guide, \"Considerations when switching capacity modes\")."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "read_capacity" {
  description = "Read capacity units when PROVISIONED without auto scaling (a scalable target with min = max = this value holds it); unused when auto scaled (autoscaling_read.min_capacity is the start)."
  type        = number
  default     = 5

  validation {
    condition     = var.read_capacity >= 1 && var.read_capacity <= 40000 && floor(var.read_capacity) == var.read_capacity
    error_message = "read_capacity must be a whole number from 1 to 40000 (default per-table quota)."
  }
}

variable "write_capacity" {
  description = "Write capacity units when PROVISIONED without auto scaling (a scalable target with min = max = this value holds it); unused when auto scaled (autoscaling_write.min_capacity is the start)."
  type        = number
  default     = 5

  validation {
    condition     = var.write_capacity >= 1 && var.write_capacity <= 40000 && floor(var.write_capacity) == var.write_capacity
    error_message = "write_capacity must be a whole number from 1 to 40000 (default per-table quota)."
  }
}

variable "autoscaling_enabled" {
  description = "With PROVISIONED: target-tracking auto scaling of read and write capacity between autoscaling_read/autoscaling_write min and max. Off: the capacity is fixed at read_capacity/write_capacity."
  type        = bool
  default     = false
}

variable "autoscaling_read" {
  description = "Read capacity auto scaling: min and max units, target utilisation in percent."
  type = object({
    min_capacity               = optional(number, 5)
    max_capacity               = optional(number, 100)
    target_utilization_percent = optional(number, 70)
  })
  default = {}

  validation {
    condition     = var.autoscaling_read.min_capacity >= 1 && var.autoscaling_read.min_capacity <= var.autoscaling_read.max_capacity && var.autoscaling_read.max_capacity <= 40000
    error_message = "autoscaling_read needs 1 <= min_capacity <= max_capacity <= 40000."
  }

  validation {
    condition     = var.autoscaling_read.target_utilization_percent >= 20 && var.autoscaling_read.target_utilization_percent <= 90
    error_message = "autoscaling_read.target_utilization_percent must be from 20 to 90 (DynamoDB target tracking range)."
  }
}

variable "autoscaling_write" {
  description = "Write capacity auto scaling: min and max units, target utilisation in percent."
  type = object({
    min_capacity               = optional(number, 5)
    max_capacity               = optional(number, 100)
    target_utilization_percent = optional(number, 70)
  })
  default = {}

  validation {
    condition     = var.autoscaling_write.min_capacity >= 1 && var.autoscaling_write.min_capacity <= var.autoscaling_write.max_capacity && var.autoscaling_write.max_capacity <= 40000
    error_message = "autoscaling_write needs 1 <= min_capacity <= max_capacity <= 40000."
  }

  validation {
    condition     = var.autoscaling_write.target_utilization_percent >= 20 && var.autoscaling_write.target_utilization_percent <= 90
    error_message = "autoscaling_write.target_utilization_percent must be from 20 to 90 (DynamoDB target tracking range)."
  }
}

variable "deletion_protection_enabled" {
  description = "DynamoDB deletion protection: DeleteTable is refused until it is turned off. On by default; only the sandbox turns it off (its tables are torn down with it)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
