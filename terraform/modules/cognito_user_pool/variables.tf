variable "name" {
  description = "Name of the user pool (e.g. \"telemetry-prod-readers\")."
  type        = string

  validation {
    condition     = can(regex("^[\\w\\s+=,.@-]{1,128}$", var.name))
    error_message = "name must be 1-128 characters of word characters, spaces and +=,.@- (Cognito limit)."
  }
}

variable "client_names" {
  description = "App clients whose tokens the API accepts (each becomes a JWT audience)."
  type        = list(string)
  default     = ["read-api"]

  validation {
    condition     = length(var.client_names) >= 1 && alltrue([for n in var.client_names : can(regex("^[\\w\\s+=,.@-]{1,128}$", n))])
    error_message = "client_names must hold at least one name of 1-128 characters of word characters, spaces and +=,.@-."
  }
}

variable "mfa_configuration" {
  description = "MFA of the pool: OFF, ON or OPTIONAL (software tokens)."
  type        = string
  default     = "OPTIONAL"

  validation {
    condition     = contains(["OFF", "ON", "OPTIONAL"], var.mfa_configuration)
    error_message = "mfa_configuration must be OFF, ON or OPTIONAL."
  }
}

variable "password_minimum_length" {
  description = "Minimum password length in characters (Cognito allows 6-99)."
  type        = number
  default     = 14

  validation {
    condition     = var.password_minimum_length >= 6 && var.password_minimum_length <= 99 && floor(var.password_minimum_length) == var.password_minimum_length
    error_message = "password_minimum_length must be a whole number of characters from 6 to 99."
  }
}

variable "access_token_validity_minutes" {
  description = "Lifetime of access and ID tokens in minutes (Cognito allows 5-1440)."
  type        = number
  default     = 60

  validation {
    condition     = var.access_token_validity_minutes >= 5 && var.access_token_validity_minutes <= 1440 && floor(var.access_token_validity_minutes) == var.access_token_validity_minutes
    error_message = "access_token_validity_minutes must be a whole number of minutes from 5 to 1440."
  }
}

variable "refresh_token_validity_days" {
  description = "Lifetime of refresh tokens in days (Cognito allows 1-3650)."
  type        = number
  default     = 30

  validation {
    condition     = var.refresh_token_validity_days >= 1 && var.refresh_token_validity_days <= 3650 && floor(var.refresh_token_validity_days) == var.refresh_token_validity_days
    error_message = "refresh_token_validity_days must be a whole number of days from 1 to 3650."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the pool (and its users) while true."
  type        = bool
  default     = true
}

variable "admin_password_auth_enabled" {
  description = "Let the app clients take ADMIN_USER_PASSWORD_AUTH (a server with IAM credentials signs a user in with its password). Only the sandbox turns it on, so `opsctl sandbox token` can issue a user's tokens; real readers use SRP."
  type        = bool
  default     = false
}

variable "operator_group_name" {
  description = "Cognito group whose members see every tenant's devices in the read API (functions/api/tenancy.py)."
  type        = string
  default     = "operators"

  validation {
    condition     = can(regex("^[a-z0-9_-]{1,128}$", var.operator_group_name))
    error_message = "operator_group_name must be 1-128 characters of a-z 0-9 _ -."
  }
}

variable "tags" {
  description = "Tags for the user pool."
  type        = map(string)
  default     = {}
}
