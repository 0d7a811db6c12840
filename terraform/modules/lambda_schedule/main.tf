data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

# EventBridge Scheduler invokes the function with a role of its own that may do exactly one thing:
# lambda:InvokeFunction on that function. Only schedules of this account may assume it (aws:SourceAccount):
# without the condition, Scheduler acting for another account could be handed this role (confused deputy).
resource "aws_iam_role" "this" {
  name = "${var.name}-scheduler"
  tags = var.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "SchedulerAssumes"
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "this" {
  name = "${var.name}-invoke"
  role = aws_iam_role.this.name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "InvokeTheFunction"
        Effect   = "Allow"
        Action   = ["lambda:InvokeFunction"]
        Resource = [var.function_arn]
      },
      {
        Sid      = "DeadLetterWhatCannotBeDelivered"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [aws_sqs_queue.dead_letter.arn]
      },
      {
        Sid      = "EncryptTheDeadLetter"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}

# What Scheduler could not deliver after its retries (the function missing, throttled for an hour, a role
# refused) lands here instead of vanishing; the catalog's report_dlq_not_empty alarm watches it.
resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-schedule-dlq"
  message_retention_seconds = 1209600 # 14 days, the SQS maximum
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

resource "aws_scheduler_schedule" "this" {
  #checkov:skip=CKV_AWS_297:The target input holds only Scheduler's own placeholders (no data, no secrets); a customer-managed key would need kms:Decrypt in the role, which may only invoke the function.
  name                         = var.name
  description                  = var.description
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = "UTC"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = var.function_arn
    role_arn = aws_iam_role.this.arn
    # Scheduler fills in the placeholders at each run; the function keys its report by the scheduled time,
    # so a retried run overwrites its own report instead of adding one. A heredoc, not jsonencode():
    # jsonencode escapes < and > (\u003c), and Scheduler would no longer see its placeholders.
    input = <<-JSON
      {"source": "aws.scheduler", "schedule_arn": "<aws.scheduler.schedule-arn>", "scheduled_time": "<aws.scheduler.scheduled-time>", "execution_id": "<aws.scheduler.execution-id>"}
    JSON

    dead_letter_config {
      arn = aws_sqs_queue.dead_letter.arn
    }

    retry_policy {
      maximum_event_age_in_seconds = var.maximum_event_age_seconds
      maximum_retry_attempts       = var.maximum_retry_attempts
    }
  }
}
