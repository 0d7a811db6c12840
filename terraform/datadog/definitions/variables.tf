variable "environment" {
  description = "Environment name (local, dev, prod): in every monitor's name and `env:` tag."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment must be 1-16 characters of [a-z0-9-], starting with a letter."
  }
}

variable "runbook_base_url" {
  description = "Where the runbooks/ pages are published (https, ending in \"/\"): every message links <this><runbook path>."
  type        = string

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\\s\"<>]*)?/$", var.runbook_base_url))
    error_message = "runbook_base_url must be an https:// URL ending in \"/\"."
  }
}

variable "resources" {
  description = "Resource names of the AWS environment, as its `terraform output` names them (stream_name, ingest_function_name, ingest_failure_queue_name, table_name, alert_function_name, alert_failure_queue_name, api_id, api_stage_name, rollup_function_name, rollup_queue_name, rollup_dlq_name, report_function_name). A monitor whose resources are missing is left out."
  type        = map(string)

  validation {
    condition     = alltrue([for k in ["stream_name", "ingest_function_name", "ingest_failure_queue_name", "table_name"] : contains(keys(var.resources), k)])
    error_message = "resources must name at least stream_name, ingest_function_name, ingest_failure_queue_name and table_name."
  }

  validation {
    # Datadog tag values: no spaces, commas or braces (they would break the query's scope).
    condition     = alltrue([for v in values(var.resources) : can(regex("^[A-Za-z0-9_.:/$-]{1,200}$", v))])
    error_message = "resource names must be 1-200 characters of [A-Za-z0-9_.:/$-]."
  }
}

variable "notify" {
  description = "Notification handles appended to the message by severity, e.g. { critical = \"@pagerduty-telemetry\", warning = \"@slack-telemetry-alerts\" }."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.notify) : contains(["critical", "warning"], k)])
    error_message = "notify keys must be critical or warning."
  }
}
