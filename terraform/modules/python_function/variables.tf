variable "name" {
  description = "Function name; also names its role (<name>-role) and log group (/aws/lambda/<name>)."
  type        = string

  validation {
    # 59 so that "<name>-role" fits IAM's 64-character role name limit (Lambda allows 64).
    condition     = can(regex("^[a-zA-Z0-9_-]{1,59}$", var.name))
    error_message = "name must be 1-59 characters of [a-zA-Z0-9_-]."
  }
}

variable "description" {
  description = "Function description."
  type        = string
  default     = ""

  validation {
    condition     = length(var.description) <= 256
    error_message = "description must be at most 256 characters (Lambda limit)."
  }
}

variable "zip_path" {
  description = "Path of the deployment zip, built outside Terraform (deterministic; see opsctl.packaging)."
  type        = string

  validation {
    condition     = endswith(var.zip_path, ".zip")
    error_message = "zip_path must name a .zip file."
  }
}

variable "handler" {
  description = "Handler string, module path then function (e.g. \"ingest.handler.handler\")."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)+$", var.handler)) && length(var.handler) <= 128
    error_message = "handler must be a dotted Python path ending in the function name, at most 128 characters."
  }
}

variable "memory_mb" {
  description = "Memory in MB (Lambda allows 128-10240)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240 && floor(var.memory_mb) == var.memory_mb
    error_message = "memory_mb must be a whole number from 128 to 10240."
  }
}

variable "timeout_seconds" {
  description = "Timeout in seconds (Lambda allows 1-900)."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900 && floor(var.timeout_seconds) == var.timeout_seconds
    error_message = "timeout_seconds must be a whole number from 1 to 900."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency (0 throttles every invoke; null = unreserved, drawing on the account pool)."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrent_executions == null ? true : (var.reserved_concurrent_executions >= 0 && var.reserved_concurrent_executions <= 10000 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions)
    error_message = "reserved_concurrent_executions must be null or a whole number from 0 to 10000 (cannot exceed the account's concurrency quota)."
  }
}

variable "environment_variables" {
  description = "Environment variables of the function (encrypted at rest with kms_key_arn; never secrets)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment_variables) : can(regex("^[a-zA-Z][a-zA-Z0-9_]*$", k)) && !startswith(k, "AWS_")])
    error_message = "environment variable names must match [a-zA-Z][a-zA-Z0-9_]* and must not start with AWS_ (reserved)."
  }

  validation {
    condition     = length(jsonencode(var.environment_variables)) <= 4096
    error_message = "environment variables must total at most 4 KB (Lambda limit)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key for the environment variables and the log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the function's logs (one of the values CloudWatch allows)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "policy_statements" {
  description = "What the function may do, least privilege: Allow statements {sid, actions, resources}. Logs and X-Ray are added by the module."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.policy_statements : can(regex("^[A-Za-z0-9]+$", s.sid)) && length(s.actions) > 0 && length(s.resources) > 0])
    error_message = "every statement needs an alphanumeric sid and at least one action and one resource."
  }

  validation {
    condition     = alltrue([for s in var.policy_statements : !anytrue([for a in s.actions : a == "*" || endswith(a, ":*")])])
    error_message = "policy_statements must not grant wildcard actions (\"*\" or \"service:*\")."
  }
}

variable "tags" {
  description = "Tags for the function, role and log group."
  type        = map(string)
  default     = {}
}
