variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "lambda_zip_path" {
  description = "Path of the functions zip built by `make zip`, relative to this directory unless absolute."
  type        = string
  default     = "../../../build/functions.zip"

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "lambda_zip_path must name a .zip file."
  }
}

variable "ingest_shard_count" {
  description = "Shards of the ingest stream. `opsctl reshard` records the count it set in opsctl.auto.tfvars.json."
  type        = number
  default     = 2
}

variable "log_level" {
  description = "LOG_LEVEL of the functions."
  type        = string
  default     = "INFO"
}

variable "tags" {
  description = "Extra tags for every resource (e.g. cost centre, owner)."
  type        = map(string)
  default     = {}
}

variable "runbook_base_url" {
  description = "Where the runbooks/ pages are published, ending in \"/\" (alarm descriptions link <this>runbooks/<page>.md). E.g. the repository's blob URL of the deployed branch."
  type        = string
}

variable "table_billing_mode" {
  description = "Readings table billing: PAY_PER_REQUEST or PROVISIONED. `opsctl capacity --apply` records a switch in opsctl.auto.tfvars.json."
  type        = string
  default     = "PAY_PER_REQUEST"
}

variable "table_read_capacity" {
  description = "Read capacity units of the readings table when PROVISIONED. `opsctl capacity --apply` records the value it set."
  type        = number
  default     = 5
}

variable "table_write_capacity" {
  description = "Write capacity units of the readings table when PROVISIONED. `opsctl capacity --apply` records the value it set."
  type        = number
  default     = 5
}

variable "capacity_report_schedule" {
  description = "When the capacity report runs, UTC cron() or rate() (default daily at 06:00 UTC)."
  type        = string
  default     = "cron(0 6 * * ? *)"
}

variable "api_cors_allow_origins" {
  description = "Origins browsers may call the read API from (empty = no CORS)."
  type        = list(string)
  default     = []
}

variable "api_throttling_burst_limit" {
  description = "Read API burst limit in requests (1-5000)."
  type        = number
  default     = 100
}

variable "api_throttling_rate_limit" {
  description = "Read API steady rate in requests per second (more than 0, at most 10000)."
  type        = number
  default     = 50
}

variable "alert_subscriptions" {
  description = "Who gets the alerts topic's messages (alarms, grouped ERROR lines, the daily report summary): a list of {protocol, endpoint}, protocol email, https, sqs or lambda (terraform/modules/alerts_topic). An email address receives a confirmation mail first: nothing is delivered until it is confirmed (runbooks/alert-pipeline.md)."
  type = list(object({
    protocol = string
    endpoint = string
  }))
  default = []
}
