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
  default     = 4
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

variable "table_autoscaling_read" {
  description = "Provisioned floor of the readings table's reads: min and max capacity units, target utilisation percent. Default null: the table is on demand (PAY_PER_REQUEST) unless this or table_autoscaling_write is given. Why on demand: the design's load is ~1,000 device requests/s, i.e. ~1,000 writes/s of items under 1 KB (1 write unit each) in bursts; a new on-demand table sustains up to 4,000 writes/s and 12,000 reads/s at once (DynamoDB developer guide, \"Initial throughput and scaling properties\"), while the old provisioned start (10 WCU / 5 RCU, auto scaling reacting after ~2 minutes above target) throttled any real fleet at once and sent batches to the failure queue. Give a floor once `opsctl capacity` shows steady use above the break-even (~29 % average utilisation); when only the write floor is given, reads start at min 100, max 4000 units."
  type = object({
    min_capacity               = number
    max_capacity               = optional(number, 4000)
    target_utilization_percent = optional(number, 70)
  })
  default = null
}

variable "table_autoscaling_write" {
  description = "Provisioned floor of the readings table's writes: min and max capacity units, target utilisation percent. Default null: on demand (see table_autoscaling_read for why). A floor for the design's load (~1,000 writes/s of items under 1 KB) is min_capacity = 1430 (1,000 units / 70 % target); when only the read floor is given, writes start at that, max 4000 units."
  type = object({
    min_capacity               = number
    max_capacity               = optional(number, 4000)
    target_utilization_percent = optional(number, 70)
  })
  default = null
}

variable "ingest_reserved_concurrency" {
  description = "Reserved concurrency of the ingest function (null = unreserved)."
  type        = number
  default     = null
}

variable "runbook_base_url" {
  description = "Where the runbooks/ pages are published, ending in \"/\" (alarm descriptions link <this>runbooks/<page>.md). E.g. the repository's blob URL of the deployed branch."
  type        = string
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
  default     = 500
}

variable "api_throttling_rate_limit" {
  description = "Read API steady rate in requests per second (more than 0, at most 10000)."
  type        = number
  default     = 200
}

variable "api_reserved_concurrency" {
  description = "Reserved concurrency of the public api function (concurrent executions). Bounded in prod so that slow requests at the stage's rate cannot take the account's unreserved concurrency from the ingest function: at the default 50 requests/s and up to the 10 s timeout, an unbounded api could hold 500. 20 serves 50 requests/s at up to 400 ms each; raise it with the stage's rate (rate x p99 seconds)."
  type        = number
  default     = 20

  validation {
    condition     = var.api_reserved_concurrency >= 1 && var.api_reserved_concurrency <= 10000 && floor(var.api_reserved_concurrency) == var.api_reserved_concurrency
    error_message = "api_reserved_concurrency must be a whole number from 1 to 10000 in prod (a public function needs a bound)."
  }
}

variable "alert_subscriptions" {
  description = "Who gets the alerts topic's messages (alarms, grouped ERROR lines, the daily report summary): a list of {protocol, endpoint}, protocol email, https, sqs or lambda (terraform/modules/alerts_topic). An email address receives a confirmation mail first: nothing is delivered until it is confirmed (runbooks/alert-pipeline.md)."
  type = list(object({
    protocol = string
    endpoint = string
  }))
  default = []
}
