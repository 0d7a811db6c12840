variable "description" {
  description = "Description shown on the key."
  type        = string
  default     = "Signs the read API's pagination cursors (HMAC_256, GenerateMac/VerifyMac)"

  validation {
    condition     = length(var.description) <= 8192
    error_message = "description must be at most 8192 characters (KMS limit)."
  }
}
