variable "environment" {
  description = "Environment name (local, dev, prod): the ENVIRONMENT of the functions and a tag."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment must be 1-16 characters of [a-z0-9-], starting with a letter."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name, e.g. \"telemetry-local\"."
  type        = string

  validation {
    # Short enough for the longest derived names: the bucket (<prefix>-quarantine-<account>-<region>, 63)
    # and the role (<prefix>-ingest-role, 64).
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of [a-z0-9-], start with a letter and not end with \"-\"."
  }
}

variable "lambda_zip_path" {
  description = "Path of build/functions.zip (one zip for every handler, built by `make zip`)."
  type        = string

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "lambda_zip_path must name a .zip file."
  }
}

variable "kms_deletion_window_in_days" {
  description = "Days a scheduled deletion of the key waits (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30 && floor(var.kms_deletion_window_in_days) == var.kms_deletion_window_in_days
    error_message = "kms_deletion_window_in_days must be a whole number from 7 to 30."
  }
}

variable "stream_mode" {
  description = "Ingest stream capacity mode: PROVISIONED or ON_DEMAND."
  type        = string
  default     = "PROVISIONED"

  validation {
    condition     = contains(["PROVISIONED", "ON_DEMAND"], var.stream_mode)
    error_message = "stream_mode must be PROVISIONED or ON_DEMAND."
  }
}

variable "ingest_shard_count" {
  description = "Shards of the ingest stream (PROVISIONED). `opsctl reshard` records the count it set here."
  type        = number
  default     = 1

  validation {
    condition     = var.ingest_shard_count >= 1 && var.ingest_shard_count <= 10000 && floor(var.ingest_shard_count) == var.ingest_shard_count
    error_message = "ingest_shard_count must be a whole number from 1 to 10000."
  }
}

variable "stream_retention_hours" {
  description = "Hours records stay in the ingest stream (24-8760)."
  type        = number
  default     = 24

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760 && floor(var.stream_retention_hours) == var.stream_retention_hours
    error_message = "stream_retention_hours must be a whole number from 24 to 8760."
  }
}

variable "table_billing_mode" {
  description = "Readings table billing: PAY_PER_REQUEST or PROVISIONED."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.table_billing_mode)
    error_message = "table_billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "table_read_capacity" {
  description = "Read capacity units of the table when PROVISIONED."
  type        = number
  default     = 5

  validation {
    condition     = var.table_read_capacity >= 1 && var.table_read_capacity <= 40000 && floor(var.table_read_capacity) == var.table_read_capacity
    error_message = "table_read_capacity must be a whole number from 1 to 40000."
  }
}

variable "table_write_capacity" {
  description = "Write capacity units of the table when PROVISIONED."
  type        = number
  default     = 5

  validation {
    condition     = var.table_write_capacity >= 1 && var.table_write_capacity <= 40000 && floor(var.table_write_capacity) == var.table_write_capacity
    error_message = "table_write_capacity must be a whole number from 1 to 40000."
  }
}

variable "table_autoscaling_enabled" {
  description = "Target-tracking auto scaling of a PROVISIONED table. Must stay false for the sandbox (moto cannot serve it)."
  type        = bool
  default     = false
}

variable "table_autoscaling_read" {
  description = "Read auto scaling: min and max capacity units, target utilisation percent (20-90)."
  type = object({
    min_capacity               = optional(number, 5)
    max_capacity               = optional(number, 100)
    target_utilization_percent = optional(number, 70)
  })
  default = {}
}

variable "table_autoscaling_write" {
  description = "Write auto scaling: min and max capacity units, target utilisation percent (20-90)."
  type = object({
    min_capacity               = optional(number, 5)
    max_capacity               = optional(number, 100)
    target_utilization_percent = optional(number, 70)
  })
  default = {}
}

variable "quarantine_prefix" {
  description = "Key prefix of quarantined records (QUARANTINE_PREFIX)."
  type        = string
  default     = "quarantine/"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*/$", var.quarantine_prefix))
    error_message = "quarantine_prefix must be path segments of [A-Za-z0-9_.=-] ending in \"/\"."
  }
}

variable "quarantine_expiry_days" {
  description = "Days a quarantined record is kept."
  type        = number
  default     = 90

  validation {
    condition     = var.quarantine_expiry_days >= 1 && var.quarantine_expiry_days <= 3650 && floor(var.quarantine_expiry_days) == var.quarantine_expiry_days
    error_message = "quarantine_expiry_days must be a whole number of days from 1 to 3650."
  }
}

variable "quarantine_noncurrent_expiry_days" {
  description = "Days an overwritten version of a quarantined record is kept."
  type        = number
  default     = 30

  validation {
    condition     = var.quarantine_noncurrent_expiry_days >= 1 && var.quarantine_noncurrent_expiry_days <= 3650 && floor(var.quarantine_noncurrent_expiry_days) == var.quarantine_noncurrent_expiry_days
    error_message = "quarantine_noncurrent_expiry_days must be a whole number of days from 1 to 3650."
  }
}

variable "quarantine_deny_insecure_transport" {
  description = "TLS-only policy on the quarantine bucket. Never false outside the sandbox (moto serves plain HTTP and enforces the deny)."
  type        = bool
  default     = true
}

variable "quarantine_force_destroy" {
  description = "Let destroy remove a bucket holding records (sandbox only)."
  type        = bool
  default     = false
}

variable "ingest_memory_mb" {
  description = "Memory of the ingest function in MB (128-10240)."
  type        = number
  default     = 256

  validation {
    condition     = var.ingest_memory_mb >= 128 && var.ingest_memory_mb <= 10240 && floor(var.ingest_memory_mb) == var.ingest_memory_mb
    error_message = "ingest_memory_mb must be a whole number from 128 to 10240."
  }
}

variable "ingest_timeout_seconds" {
  description = "Timeout of the ingest function in seconds (1-900)."
  type        = number
  default     = 60

  validation {
    condition     = var.ingest_timeout_seconds >= 1 && var.ingest_timeout_seconds <= 900 && floor(var.ingest_timeout_seconds) == var.ingest_timeout_seconds
    error_message = "ingest_timeout_seconds must be a whole number from 1 to 900."
  }
}

variable "ingest_reserved_concurrency" {
  description = "Reserved concurrency of the ingest function (null = unreserved)."
  type        = number
  default     = null

  validation {
    condition     = var.ingest_reserved_concurrency == null ? true : (var.ingest_reserved_concurrency >= 0 && var.ingest_reserved_concurrency <= 10000 && floor(var.ingest_reserved_concurrency) == var.ingest_reserved_concurrency)
    error_message = "ingest_reserved_concurrency must be null or a whole number from 0 to 10000."
  }
}

variable "ingest_batch_size" {
  description = "Records per ingest invocation (1-10000)."
  type        = number
  default     = 100

  validation {
    condition     = var.ingest_batch_size >= 1 && var.ingest_batch_size <= 10000 && floor(var.ingest_batch_size) == var.ingest_batch_size
    error_message = "ingest_batch_size must be a whole number from 1 to 10000."
  }
}

variable "ingest_batching_window_seconds" {
  description = "Seconds Lambda may wait to fill an ingest batch (0-300)."
  type        = number
  default     = 1

  validation {
    condition     = var.ingest_batching_window_seconds >= 0 && var.ingest_batching_window_seconds <= 300 && floor(var.ingest_batching_window_seconds) == var.ingest_batching_window_seconds
    error_message = "ingest_batching_window_seconds must be a whole number from 0 to 300."
  }
}

variable "ingest_parallelization_factor" {
  description = "Concurrent ingest batches per shard (1-10)."
  type        = number
  default     = 1

  validation {
    condition     = var.ingest_parallelization_factor >= 1 && var.ingest_parallelization_factor <= 10 && floor(var.ingest_parallelization_factor) == var.ingest_parallelization_factor
    error_message = "ingest_parallelization_factor must be a whole number from 1 to 10."
  }
}

variable "ingest_maximum_retry_attempts" {
  description = "Retries of a failing ingest record before the failure queue (finite: 0-10000)."
  type        = number
  default     = 3

  validation {
    condition     = var.ingest_maximum_retry_attempts >= 0 && var.ingest_maximum_retry_attempts <= 10000 && floor(var.ingest_maximum_retry_attempts) == var.ingest_maximum_retry_attempts
    error_message = "ingest_maximum_retry_attempts must be a whole number from 0 to 10000 (-1, infinite, is not allowed)."
  }
}

variable "ingest_maximum_record_age_seconds" {
  description = "Age in seconds after which an ingest record goes to the failure queue (60-604800)."
  type        = number
  default     = 3600

  validation {
    condition     = var.ingest_maximum_record_age_seconds >= 60 && var.ingest_maximum_record_age_seconds <= 604800 && floor(var.ingest_maximum_record_age_seconds) == var.ingest_maximum_record_age_seconds
    error_message = "ingest_maximum_record_age_seconds must be a whole number from 60 to 604800 (-1, no limit, is not allowed)."
  }
}

variable "reading_ttl_days" {
  description = "READING_TTL_DAYS: days a reading stays in the table (expires_at = ts/1000 + days x 86400)."
  type        = number
  default     = 90

  validation {
    condition     = var.reading_ttl_days >= 1 && var.reading_ttl_days <= 3650 && floor(var.reading_ttl_days) == var.reading_ttl_days
    error_message = "reading_ttl_days must be a whole number of days from 1 to 3650."
  }
}

variable "reading_max_age_days" {
  description = "READING_MAX_AGE_DAYS: readings older than this many days are quarantined (ts_out_of_window)."
  type        = number
  default     = 365

  validation {
    condition     = var.reading_max_age_days >= 1 && var.reading_max_age_days <= 3650 && floor(var.reading_max_age_days) == var.reading_max_age_days
    error_message = "reading_max_age_days must be a whole number of days from 1 to 3650."
  }
}

variable "reading_max_future_seconds" {
  description = "READING_MAX_FUTURE_SECONDS: readings further in the future than this many seconds are quarantined."
  type        = number
  default     = 300

  validation {
    condition     = var.reading_max_future_seconds >= 0 && var.reading_max_future_seconds <= 86400 && floor(var.reading_max_future_seconds) == var.reading_max_future_seconds
    error_message = "reading_max_future_seconds must be a whole number of seconds from 0 to 86400."
  }
}

variable "rollup_memory_mb" {
  description = "Memory of the rollup worker in MB (128-10240)."
  type        = number
  default     = 256

  validation {
    condition     = var.rollup_memory_mb >= 128 && var.rollup_memory_mb <= 10240 && floor(var.rollup_memory_mb) == var.rollup_memory_mb
    error_message = "rollup_memory_mb must be a whole number from 128 to 10240."
  }
}

variable "rollup_timeout_seconds" {
  description = "Timeout of the rollup worker in seconds (1-900); the rollup queue's visibility timeout must be at least 6x this."
  type        = number
  default     = 30

  validation {
    condition     = var.rollup_timeout_seconds >= 1 && var.rollup_timeout_seconds <= 900 && floor(var.rollup_timeout_seconds) == var.rollup_timeout_seconds
    error_message = "rollup_timeout_seconds must be a whole number from 1 to 900."
  }
}

variable "rollup_queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the rollup queue in seconds (0-43200), at least 6x rollup_timeout_seconds (a precondition checks it)."
  type        = number
  default     = 180

  validation {
    condition     = var.rollup_queue_visibility_timeout_seconds >= 0 && var.rollup_queue_visibility_timeout_seconds <= 43200 && floor(var.rollup_queue_visibility_timeout_seconds) == var.rollup_queue_visibility_timeout_seconds
    error_message = "rollup_queue_visibility_timeout_seconds must be a whole number from 0 to 43200 (12 hours)."
  }
}

variable "rollup_queue_retention_seconds" {
  description = "Seconds the rollup queue keeps a job (60-1209600)."
  type        = number
  default     = 345600

  validation {
    condition     = var.rollup_queue_retention_seconds >= 60 && var.rollup_queue_retention_seconds <= 1209600 && floor(var.rollup_queue_retention_seconds) == var.rollup_queue_retention_seconds
    error_message = "rollup_queue_retention_seconds must be a whole number from 60 to 1209600 (14 days)."
  }
}

variable "rollup_max_receive_count" {
  description = "Receives of a rollup job before it moves to the rollup DLQ (1-1000)."
  type        = number
  default     = 5

  validation {
    condition     = var.rollup_max_receive_count >= 1 && var.rollup_max_receive_count <= 1000 && floor(var.rollup_max_receive_count) == var.rollup_max_receive_count
    error_message = "rollup_max_receive_count must be a whole number from 1 to 1000."
  }
}

variable "rollup_redrive_allow_policy_enabled" {
  description = "Restrict the rollup DLQ to the rollup queue (redrive-allow policy). Must be false for the sandbox (moto cannot serve it)."
  type        = bool
  default     = true
}

variable "rollup_batch_size" {
  description = "Rollup jobs per worker invocation (1-10000; above 10 needs a batching window of at least 1 s)."
  type        = number
  default     = 10

  validation {
    condition     = var.rollup_batch_size >= 1 && var.rollup_batch_size <= 10000 && floor(var.rollup_batch_size) == var.rollup_batch_size
    error_message = "rollup_batch_size must be a whole number from 1 to 10000."
  }
}

variable "rollup_batching_window_seconds" {
  description = "Seconds Lambda may wait to fill a rollup batch (0-300)."
  type        = number
  default     = 5

  validation {
    condition     = var.rollup_batching_window_seconds >= 0 && var.rollup_batching_window_seconds <= 300 && floor(var.rollup_batching_window_seconds) == var.rollup_batching_window_seconds
    error_message = "rollup_batching_window_seconds must be a whole number from 0 to 300."
  }
}

variable "rollup_maximum_concurrency" {
  description = "Most concurrent rollup worker invocations (scaling_config.maximum_concurrency, 2-1000)."
  type        = number
  default     = 5

  validation {
    condition     = var.rollup_maximum_concurrency >= 2 && var.rollup_maximum_concurrency <= 1000 && floor(var.rollup_maximum_concurrency) == var.rollup_maximum_concurrency
    error_message = "rollup_maximum_concurrency must be a whole number from 2 to 1000 (AWS limits for SQS event sources)."
  }
}

variable "rollup_ttl_days" {
  description = "ROLLUP_TTL_DAYS: days a rollup stays after its hour ends (expires_at = hour end in epoch seconds + days x 86400)."
  type        = number
  default     = 400

  validation {
    condition     = var.rollup_ttl_days >= 1 && var.rollup_ttl_days <= 3650 && floor(var.rollup_ttl_days) == var.rollup_ttl_days
    error_message = "rollup_ttl_days must be a whole number of days from 1 to 3650."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the functions."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "log_retention_days" {
  description = "Days the functions' logs are kept (a CloudWatch Logs retention value)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "runbook_base_url" {
  description = "Where the runbooks/ pages are published (https, ending in \"/\"): every alarm and monitor links <this><runbook path>."
  type        = string

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\\s\"<>]*)?/$", var.runbook_base_url)) && length(var.runbook_base_url) <= 200
    error_message = "runbook_base_url must be an https:// URL ending in \"/\", at most 200 characters."
  }
}

variable "tags" {
  description = "Tags for every resource (real environments put Project/Environment in the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "capacity_report_schedule_enabled" {
  description = "Run the capacity report on an EventBridge Scheduler schedule (off where the scheduler cannot invoke Lambda, e.g. the sandbox)."
  type        = bool
  default     = true
}

variable "capacity_report_schedule" {
  description = "When the capacity report runs, UTC: cron(minutes hours day-of-month month day-of-week year) or rate(N unit). Default: daily at 06:00 UTC."
  type        = string
  default     = "cron(0 6 * * ? *)"

  validation {
    condition     = can(regex("^(cron\\(\\S+ \\S+ \\S+ \\S+ \\S+ \\S+\\)|rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\))$", var.capacity_report_schedule))
    error_message = "capacity_report_schedule must be cron() with six fields or rate(N unit)."
  }
}

variable "capacity_report_window" {
  description = "REPORT_WINDOW: how far back each report looks, a number and a unit s/m/h/d, at most 15 days (e.g. 1d)."
  type        = string
  default     = "1d"

  validation {
    condition     = can(regex("^[1-9][0-9]*[smhd]$", var.capacity_report_window))
    error_message = "capacity_report_window must be a number and one of s, m, h, d (e.g. 1d, 36h)."
  }
}

variable "reports_expiry_days" {
  description = "Days a capacity report is kept in the reports bucket."
  type        = number
  default     = 90

  validation {
    condition     = var.reports_expiry_days >= 1 && var.reports_expiry_days <= 3650 && floor(var.reports_expiry_days) == var.reports_expiry_days
    error_message = "reports_expiry_days must be a whole number of days from 1 to 3650."
  }
}

variable "reports_noncurrent_expiry_days" {
  description = "Days a replaced version of a capacity report is kept."
  type        = number
  default     = 7

  validation {
    condition     = var.reports_noncurrent_expiry_days >= 1 && var.reports_noncurrent_expiry_days <= 3650 && floor(var.reports_noncurrent_expiry_days) == var.reports_noncurrent_expiry_days
    error_message = "reports_noncurrent_expiry_days must be a whole number of days from 1 to 3650."
  }
}

variable "api_routes" {
  description = "Route keys of the read API, one per line; each is served by the api function's route table (functions/api/routes.py)."
  type        = list(string)
  default = [
    "GET /devices",
    "GET /devices/{device_id}/readings",
    "GET /devices/{device_id}/latest",
    "GET /devices/{device_id}/rollups",
  ]

  validation {
    condition     = length(var.api_routes) >= 1 && length(var.api_routes) <= 300
    error_message = "api_routes must hold 1-300 route keys (API Gateway routes-per-API quota)."
  }
}

variable "api_cors_allow_origins" {
  description = "Origins browsers may call the API from (empty = no CORS)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.api_cors_allow_origins : o == "*" || can(regex("^https?://[^/]+$", o))])
    error_message = "api_cors_allow_origins must hold \"*\" or origins such as https://example.com (scheme and host, no path)."
  }
}

variable "api_throttling_burst_limit" {
  description = "Read API stage burst limit in requests (1-5000, the account's burst quota)."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttling_burst_limit >= 1 && var.api_throttling_burst_limit <= 5000 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a whole number of requests from 1 to 5000."
  }
}

variable "api_throttling_rate_limit" {
  description = "Read API stage steady rate in requests per second (more than 0, at most 10000, the account quota)."
  type        = number
  default     = 50

  validation {
    condition     = var.api_throttling_rate_limit > 0 && var.api_throttling_rate_limit <= 10000
    error_message = "api_throttling_rate_limit must be more than 0 and at most 10000 requests per second."
  }
}

variable "api_jwt_auth_enabled" {
  description = "Require a JWT from the Cognito user pool (created with it) on every route. Off only in the sandbox (moto has no JWT verification)."
  type        = bool
  default     = true
}

variable "api_user_pool_deletion_protection" {
  description = "Deletion protection of the API's Cognito user pool."
  type        = bool
  default     = true
}

variable "api_cursor_ttl_seconds" {
  description = "CURSOR_TTL_SECONDS: seconds a pagination cursor stays valid after it is issued (60-86400)."
  type        = number
  default     = 3600

  validation {
    condition     = var.api_cursor_ttl_seconds >= 60 && var.api_cursor_ttl_seconds <= 86400 && floor(var.api_cursor_ttl_seconds) == var.api_cursor_ttl_seconds
    error_message = "api_cursor_ttl_seconds must be a whole number of seconds from 60 to 86400."
  }
}

variable "api_readings_max_age_seconds" {
  description = "READINGS_MAX_AGE_SECONDS: Cache-Control max-age of a readings page, in seconds (0-3600)."
  type        = number
  default     = 10

  validation {
    condition     = var.api_readings_max_age_seconds >= 0 && var.api_readings_max_age_seconds <= 3600 && floor(var.api_readings_max_age_seconds) == var.api_readings_max_age_seconds
    error_message = "api_readings_max_age_seconds must be a whole number of seconds from 0 to 3600."
  }
}

variable "api_memory_mb" {
  description = "Memory of the api function in MB (128-10240)."
  type        = number
  default     = 512

  validation {
    condition     = var.api_memory_mb >= 128 && var.api_memory_mb <= 10240 && floor(var.api_memory_mb) == var.api_memory_mb
    error_message = "api_memory_mb must be a whole number from 128 to 10240."
  }
}

variable "api_timeout_seconds" {
  description = "Timeout of the api function in seconds (1-29: API Gateway gives up on an integration after 30 s)."
  type        = number
  default     = 10

  validation {
    condition     = var.api_timeout_seconds >= 1 && var.api_timeout_seconds <= 29 && floor(var.api_timeout_seconds) == var.api_timeout_seconds
    error_message = "api_timeout_seconds must be a whole number of seconds from 1 to 29 (under API Gateway's 30 s integration timeout)."
  }
}

variable "api_reserved_concurrency" {
  description = "Reserved concurrency of the api function (null = unreserved)."
  type        = number
  default     = null

  validation {
    condition     = var.api_reserved_concurrency == null ? true : (var.api_reserved_concurrency >= 0 && var.api_reserved_concurrency <= 10000 && floor(var.api_reserved_concurrency) == var.api_reserved_concurrency)
    error_message = "api_reserved_concurrency must be null or a whole number from 0 to 10000."
  }
}

variable "iot_topic_prefix" {
  description = "First level of the devices' telemetry topic: <iot_topic_prefix>/<tenant>/<device id>/telemetry."
  type        = string
  default     = "dt"
}

variable "api_authorization_scopes" {
  description = "OAuth scopes every route requires of the caller's access token. aws.cognito.signin.user.admin is in every Cognito user-pool access token (and in no ID token), so the default admits access tokens only; a pool with a resource server would name its own scope (e.g. telemetry/read)."
  type        = list(string)
  default     = ["aws.cognito.signin.user.admin"]

  validation {
    condition     = length(var.api_authorization_scopes) >= 1 && alltrue([for s in var.api_authorization_scopes : can(regex("^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,256}$", s))])
    error_message = "api_authorization_scopes must hold at least one scope of printable characters without spaces, quotes or backslashes (RFC 6749 scope-token)."
  }
}

variable "api_admin_password_auth_enabled" {
  description = "ADMIN_USER_PASSWORD_AUTH on the read API's app client: only the sandbox, where `opsctl sandbox token` signs users in."
  type        = bool
  default     = false
}

variable "rollup_queue_delay_seconds" {
  description = "Seconds a rollup job waits on the queue before its first delivery (0-900). The jobs a busy device enqueues meanwhile reach a worker after the one that recomputes its hour, and are done without re-reading it (functions/rollup/handler.py): at most 3600 / this many recomputes per device-hour. Rollups lag by as much."
  type        = number
  default     = 30

  validation {
    condition     = var.rollup_queue_delay_seconds >= 0 && var.rollup_queue_delay_seconds <= 900 && floor(var.rollup_queue_delay_seconds) == var.rollup_queue_delay_seconds
    error_message = "rollup_queue_delay_seconds must be a whole number of seconds from 0 to 900."
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

variable "table_deletion_protection" {
  description = "Deletion protection of the readings and rollups tables (true in dev and prod: a destroy or a mistaken replacement is refused by DynamoDB; the sandbox turns it off to tear down)."
  type        = bool
  default     = true
}
