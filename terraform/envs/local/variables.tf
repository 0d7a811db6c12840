variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"

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

# Written by `opsctl sandbox up` into the git-ignored sandbox.auto.tfvars.json.
variable "sandbox_endpoint" {
  description = "URL of the moto server every AWS service of the sandbox is served from."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.sandbox_endpoint))
    error_message = "sandbox_endpoint must be an http(s) URL (run `opsctl sandbox up`)."
  }
}

variable "sandbox_access_key" {
  description = "Access key id the sandbox accepts (not a real AWS credential)."
  type        = string
}

variable "sandbox_secret_key" {
  description = "Secret key the sandbox accepts (not a real AWS credential, kept out of plans all the same)."
  type        = string
  sensitive   = true
}

variable "runbook_base_url" {
  description = "Where the runbooks/ pages are published, ending in \"/\" (alarm descriptions link <this>runbooks/<page>.md). The sandbox's links are never followed: a placeholder."
  type        = string
  default     = "https://runbooks.example.invalid/telemetry-pipeline/"
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

variable "capacity_report_schedule_enabled" {
  description = "Create the EventBridge Scheduler schedule of the capacity report. moto stores it but never fires it; `opsctl sandbox scheduled-report` invokes the function instead."
  type        = bool
  default     = true
}
