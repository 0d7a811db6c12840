variable "name" {
  description = "Name of the API (also names its access log group /aws/apigateway/<name>)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,128}$", var.name))
    error_message = "name must be 1-128 characters of [a-zA-Z0-9_-]."
  }
}

variable "description" {
  description = "Description of the API."
  type        = string
  default     = ""

  validation {
    condition     = length(var.description) <= 1024
    error_message = "description must be at most 1024 characters (API Gateway limit)."
  }
}

variable "function_name" {
  description = "Name of the Lambda function every route invokes (a Lambda permission is added for this API)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 characters of [a-zA-Z0-9_-]."
  }
}

variable "function_arn" {
  description = "ARN of that function (the Lambda proxy integration's URI, payload format 2.0)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:lambda:", var.function_arn))
    error_message = "function_arn must be a Lambda function ARN."
  }
}

variable "routes" {
  description = "Route keys (\"GET /devices/{device_id}/readings\"), one per route; a $default route to the same function is always added."
  type        = list(string)

  validation {
    condition     = length(var.routes) >= 1 && length(var.routes) <= 300 && alltrue([for r in var.routes : can(regex("^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) /([A-Za-z0-9._~-]+|\\{[A-Za-z0-9_]+\\+?\\})(/([A-Za-z0-9._~-]+|\\{[A-Za-z0-9_]+\\+?\\}))*$", r))])
    error_message = "routes must be 1-300 (API Gateway quota) keys of the form \"METHOD /path/{param}\"."
  }

  validation {
    condition     = length(distinct(var.routes)) == length(var.routes)
    error_message = "routes must not repeat a route key."
  }
}

variable "cors" {
  description = "CORS answered by API Gateway (null = no CORS): origins, methods, headers, exposed headers, preflight cache in seconds (0-86400)."
  type = object({
    allow_origins   = list(string)
    allow_methods   = optional(list(string), ["GET", "OPTIONS"])
    allow_headers   = optional(list(string), ["authorization", "content-type"])
    expose_headers  = optional(list(string), [])
    max_age_seconds = optional(number, 600)
  })
  default = null

  validation {
    condition     = var.cors == null ? true : (var.cors.max_age_seconds >= 0 && var.cors.max_age_seconds <= 86400 && floor(var.cors.max_age_seconds) == var.cors.max_age_seconds)
    error_message = "cors.max_age_seconds must be a whole number of seconds from 0 to 86400 (API Gateway limit)."
  }

  validation {
    condition     = var.cors == null ? true : length(var.cors.allow_origins) >= 1 && alltrue([for o in var.cors.allow_origins : o == "*" || can(regex("^https?://[^/]+$", o))])
    error_message = "cors.allow_origins must hold \"*\" or origins such as https://example.com (scheme and host, no path)."
  }
}

variable "throttling_burst_limit" {
  description = "Stage burst limit in requests (token bucket size; at most the account's 5,000)."
  type        = number
  default     = 100

  validation {
    condition     = var.throttling_burst_limit >= 1 && var.throttling_burst_limit <= 5000 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number of requests from 1 to 5000 (account burst quota)."
  }
}

variable "throttling_rate_limit" {
  description = "Stage steady rate limit in requests per second (at most the account's 10,000)."
  type        = number
  default     = 50

  validation {
    condition     = var.throttling_rate_limit > 0 && var.throttling_rate_limit <= 10000
    error_message = "throttling_rate_limit must be more than 0 and at most 10000 requests per second (account quota)."
  }
}

variable "detailed_metrics_enabled" {
  description = "Per-route CloudWatch metrics (extra cost on AWS)."
  type        = bool
  default     = true
}

variable "jwt_authorizer" {
  description = "JWT authorizer on every route (null = none): the issuer URL, the accepted audiences (client ids) and the OAuth scopes every route requires (empty = none, any valid token)."
  type = object({
    issuer   = string
    audience = list(string)
    scopes   = optional(list(string), [])
  })
  default = null

  validation {
    condition     = var.jwt_authorizer == null ? true : (startswith(var.jwt_authorizer.issuer, "https://") && length(var.jwt_authorizer.audience) >= 1)
    error_message = "jwt_authorizer needs an https:// issuer and at least one audience."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed key that encrypts the access log group."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "log_retention_days" {
  description = "Days the access logs are kept (one of the values CloudWatch allows)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "tags" {
  description = "Tags for the API, stage and log group."
  type        = map(string)
  default     = {}
}
