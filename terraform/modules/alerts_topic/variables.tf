variable "name" {
  description = "Topic name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,256}$", var.name))
    error_message = "name must be 1-256 characters of letters, digits, hyphens and underscores (SNS topic names)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the topic (its policy must let cloudwatch.amazonaws.com use it)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags for the topic."
  type        = map(string)
  default     = {}
}

variable "subscriptions" {
  description = "Who gets the alerts: protocol email (an address; confirm the mail AWS sends), https (an https:// URL that confirms the subscription), sqs (a queue ARN whose policy lets SNS send) or lambda (a function ARN that lets SNS invoke it)."
  type = list(object({
    protocol = string
    endpoint = string
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.subscriptions : contains(["email", "https", "sqs", "lambda"], s.protocol)])
    error_message = "Each subscription's protocol must be email, https, sqs or lambda."
  }

  validation {
    condition = alltrue([for s in var.subscriptions : (
      s.protocol == "email" ? can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", s.endpoint)) :
      s.protocol == "https" ? can(regex("^https://[^\\s]+$", s.endpoint)) :
      s.protocol == "sqs" ? can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\\.fifo)?$", s.endpoint)) :
      can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]+)?$", s.endpoint))
    )])
    error_message = "Each endpoint must match its protocol: an email address, an https:// URL, an SQS queue ARN or a Lambda function ARN."
  }
}
