# A work queue consumed by a function, and the dead-letter queue its failing messages end in.
# The redrive policy and the redrive-allow policy are separate resources that each point at a queue created
# before them, so neither queue refers to the other and there is no cycle (terraform-aws-sqs does the same).
resource "aws_sqs_queue" "this" {
  name                              = var.queue_name
  visibility_timeout_seconds        = var.visibility_timeout_seconds
  message_retention_seconds         = var.message_retention_seconds
  delay_seconds                     = var.delay_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_data_key_reuse_period_seconds
  tags                              = var.tags

  lifecycle {
    # Owned by aws_sqs_queue_redrive_policy.this (moto also reformats the JSON, so plan would never settle).
    ignore_changes = [redrive_policy]

    # AWS: a function may not run longer than its source queue's visibility timeout, and Lambda's guidance is
    # 6x the function timeout, so a batch that is retried by the poller is not delivered a second time meanwhile.
    precondition {
      condition     = var.visibility_timeout_seconds >= 6 * var.function_timeout_seconds
      error_message = "visibility_timeout_seconds (${var.visibility_timeout_seconds} s) must be at least 6x the function's timeout (${var.function_timeout_seconds} s = ${6 * var.function_timeout_seconds} s)."
    }
  }
}

resource "aws_sqs_queue" "dlq" {
  name                              = var.dlq_name
  message_retention_seconds         = 1209600 # 14 days, the SQS maximum: time to look at a poison job and replay it
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_data_key_reuse_period_seconds
  tags                              = var.tags
}

resource "aws_sqs_queue_redrive_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

# Only this queue may use the DLQ as its dead-letter queue. Switchable because moto does not know the
# RedriveAllowPolicy attribute and the provider waits for it forever (docs/moto-gaps.md §Terraform against moto): off in the sandbox only.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  count = var.redrive_allow_policy_enabled ? 1 : 0

  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this.arn]
  })
}

# What Lambda's SQS poller does with the function's role, on this queue and this key only. Attached here so
# the mapping is created after its permissions (AWS checks them when the mapping is created).
resource "aws_iam_role_policy" "poller" {
  name = "${var.function_name}-sqs-consumer"
  role = var.function_role_name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ConsumeQueue"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
        Resource = [aws_sqs_queue.this.arn]
      },
      {
        # Receiving from a KMS-encrypted queue decrypts its data key.
        Sid      = "DecryptMessages"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = aws_sqs_queue.this.arn
  function_name                      = var.function_arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  # Only the messages the function names are retried (and, after max_receive_count receives, dead-lettered).
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  lifecycle {
    precondition {
      condition     = var.batch_size <= 10 || var.maximum_batching_window_in_seconds >= 1
      error_message = "batch_size above 10 needs maximum_batching_window_in_seconds of at least 1 (AWS rule for SQS sources)."
    }
  }

  depends_on = [aws_iam_role_policy.poller]
}
