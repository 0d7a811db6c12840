variable "name_prefix" {
  description = "Prefix of every alarm name (<name_prefix>-<catalog id>)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,200}$", var.name_prefix))
    error_message = "name_prefix must be 1-200 characters of [a-zA-Z0-9_-] (alarm names are at most 255)."
  }
}

variable "alerts_topic_arn" {
  description = "SNS topic every alarm notifies on ALARM and on OK (encrypted; CloudWatch may use its key)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alerts_topic_arn))
    error_message = "alerts_topic_arn must be an SNS topic ARN."
  }
}

variable "runbook_base_url" {
  description = "URL the catalog's runbook paths (runbooks/<page>.md) are appended to in every alarm description, ending in \"/\"."
  type        = string

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\\s\"<>]*)?/$", var.runbook_base_url)) && length(var.runbook_base_url) <= 200
    error_message = "runbook_base_url must be an https:// URL ending in \"/\", at most 200 characters (alarm descriptions are at most 1024)."
  }
}

variable "stream_name" {
  description = "The ingest Kinesis stream."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,128}$", var.stream_name))
    error_message = "stream_name must be a Kinesis stream name (1-128 characters of [a-zA-Z0-9_.-])."
  }
}

variable "ingest_function_name" {
  description = "The ingest function."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.ingest_function_name))
    error_message = "ingest_function_name must be a Lambda function name."
  }
}

variable "ingest_failure_queue_name" {
  description = "The ingest consumer's on-failure queue."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,80}$", var.ingest_failure_queue_name))
    error_message = "ingest_failure_queue_name must be an SQS queue name."
  }
}

variable "table_name" {
  description = "The readings table."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be a DynamoDB table name."
  }
}

variable "alert_function_name" {
  description = "Name of the log-alert function (its alarms: iterator age, errors, throttles); null (the default) leaves its alarms out."
  type        = string
  default     = null

  validation {
    condition     = var.alert_function_name == null ? true : can(regex("^[a-zA-Z0-9_-]{1,64}$", var.alert_function_name))
    error_message = "alert_function_name must be null or a Lambda function name."
  }
}

variable "alert_failure_queue_name" {
  description = "Name of the log-alert consumer's on-failure queue; null (the default) leaves its alarms out."
  type        = string
  default     = null

  validation {
    condition     = var.alert_failure_queue_name == null ? true : can(regex("^[a-zA-Z0-9_-]{1,80}$", var.alert_failure_queue_name))
    error_message = "alert_failure_queue_name must be null or an SQS queue name."
  }
}

variable "api_id" {
  description = "Name of the read API's HTTP API id (issue 3; with api_stage_name); null (the default) leaves its alarms out."
  type        = string
  default     = null

  validation {
    condition     = var.api_id == null ? true : can(regex("^[a-z0-9]{1,32}$", var.api_id))
    error_message = "api_id must be null or an API Gateway API id."
  }
}

variable "api_stage_name" {
  description = "Name of the read API's stage name; null (the default) leaves its alarms out."
  type        = string
  default     = null

  validation {
    condition     = var.api_stage_name == null ? true : can(regex("^[a-zA-Z0-9_$-]{1,128}$", var.api_stage_name))
    error_message = "api_stage_name must be null or an API Gateway stage name."
  }
}

variable "rollup_function_name" {
  description = "Name of the rollup worker function (issue 4); null (the default) leaves its alarms out."
  type        = string
  default     = null

  validation {
    condition     = var.rollup_function_name == null ? true : can(regex("^[a-zA-Z0-9_-]{1,64}$", var.rollup_function_name))
    error_message = "rollup_function_name must be null or a Lambda function name."
  }
}

variable "rollup_queue_name" {
  description = "Name of the rollup queue (issue 4); null (the default) leaves its alarms out."
  type        = string
  default     = null

  validation {
    condition     = var.rollup_queue_name == null ? true : can(regex("^[a-zA-Z0-9_-]{1,80}$", var.rollup_queue_name))
    error_message = "rollup_queue_name must be null or an SQS queue name."
  }
}

variable "rollup_dlq_name" {
  description = "Name of the rollup dead-letter queue (issue 4); null (the default) leaves its alarms out."
  type        = string
  default     = null

  validation {
    condition     = var.rollup_dlq_name == null ? true : can(regex("^[a-zA-Z0-9_-]{1,80}$", var.rollup_dlq_name))
    error_message = "rollup_dlq_name must be null or an SQS queue name."
  }
}

variable "report_function_name" {
  description = "Name of the scheduled capacity report function (issue 7); null (the default) leaves its alarms out."
  type        = string
  default     = null

  validation {
    condition     = var.report_function_name == null ? true : can(regex("^[a-zA-Z0-9_-]{1,64}$", var.report_function_name))
    error_message = "report_function_name must be null or a Lambda function name."
  }
}

variable "report_dlq_name" {
  description = "Name of the capacity report schedule's dead-letter queue; null (the default) leaves its alarm out."
  type        = string
  default     = null

  validation {
    condition     = var.report_dlq_name == null ? true : can(regex("^[a-zA-Z0-9_-]{1,80}$", var.report_dlq_name))
    error_message = "report_dlq_name must be null or an SQS queue name."
  }
}

variable "tags" {
  description = "Tags for every alarm (a Severity tag is added from the catalog)."
  type        = map(string)
  default     = {}
}
