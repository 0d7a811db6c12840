variable "name_prefix" {
  description = "Prefix of every name (<prefix>-log-alerts stream, <prefix>-alert function); the log groups subscribed must be /aws/lambda/<prefix>-*."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of [a-z0-9-], start with a letter and not end with \"-\"."
  }
}

variable "environment" {
  description = "Environment name, in every alert's subject (ENVIRONMENT of the function)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment must be 1-16 characters of [a-z0-9-], starting with a letter."
  }
}

variable "zip_path" {
  description = "Path of build/functions.zip (the alert handler is alert.handler.handler)."
  type        = string

  validation {
    condition     = endswith(var.zip_path, ".zip")
    error_message = "zip_path must name a .zip file."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed key of the stream, queue, function and log group (the topic's key too)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "alerts_topic_arn" {
  description = "The alerts SNS topic the function publishes to."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alerts_topic_arn))
    error_message = "alerts_topic_arn must be an SNS topic ARN."
  }
}

variable "log_group_names" {
  description = "Log groups whose ERROR lines become alerts, by a stable key (e.g. { ingest = \"/aws/lambda/<prefix>-ingest\" }). Never the alert function's own (a loop)."
  type        = map(string)

  validation {
    condition     = alltrue([for g in values(var.log_group_names) : can(regex("^/aws/lambda/[a-zA-Z0-9_-]{1,64}$", g))])
    error_message = "log_group_names must be Lambda log groups (/aws/lambda/<function>)."
  }

  validation {
    condition     = !anytrue([for g in values(var.log_group_names) : endswith(g, "-alert")])
    error_message = "the alert function's own log group must not be subscribed: its ERROR lines would alert about themselves."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the alert function."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "log_retention_days" {
  description = "Days the alert function's logs are kept (a CloudWatch Logs retention value)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
