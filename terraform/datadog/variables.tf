variable "datadog_api_url" {
  description = "Datadog API of the organisation's site, e.g. https://api.datadoghq.eu/ (keys come from DD_API_KEY and DD_APP_KEY)."
  type        = string
  default     = "https://api.datadoghq.com/"

  validation {
    condition     = can(regex("^https://api\\.[a-z0-9.-]*datadoghq\\.(com|eu)/$|^https://api\\.ddog-gov\\.com/$", var.datadog_api_url))
    error_message = "datadog_api_url must be a Datadog API URL such as https://api.datadoghq.com/ or https://api.datadoghq.eu/."
  }
}

variable "environment" {
  description = "Environment name (dev, prod): in every monitor's name and `env:` tag."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment must be 1-16 characters of [a-z0-9-], starting with a letter."
  }
}

variable "runbook_base_url" {
  description = "Where the runbooks/ pages are published (https, ending in \"/\"): the same value as the AWS environment's."
  type        = string

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\\s\"<>]*)?/$", var.runbook_base_url))
    error_message = "runbook_base_url must be an https:// URL ending in \"/\"."
  }
}

variable "resources" {
  description = "Resource names from the AWS environment's `terraform output` (stream_name, ingest_function_name, ingest_failure_queue_name, table_name, and, once they exist, alert_*, api_*, rollup_*, report_function_name)."
  type        = map(string)
}

variable "notify" {
  description = "Notification handles by severity appended to every message, e.g. { critical = \"@pagerduty-telemetry\" }."
  type        = map(string)
  default     = {}
}
