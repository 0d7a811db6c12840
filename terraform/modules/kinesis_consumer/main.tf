# Where Lambda sends the description of a batch it gave up on (shard, sequence range): never the records
# themselves, which must be fetched from the stream before they expire.
resource "aws_sqs_queue" "failure" {
  name                      = var.failure_queue_name
  message_retention_seconds = 1209600 # 14 days, the SQS maximum: time to replay before the pointers go stale
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

# What Lambda's Kinesis poller does with the function's role, on these resources only. Attached here so
# the mapping is created after its permissions (AWS checks them when the mapping is created).
resource "aws_iam_role_policy" "poller" {
  name = "${var.function_name}-kinesis-consumer"
  role = var.function_role_name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadStream"
        Effect   = "Allow"
        Action   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
        Resource = [var.stream_arn]
      },
      {
        Sid      = "SendFailedBatchInfo"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [aws_sqs_queue.failure.arn]
      },
      {
        # Decrypt: reading the KMS-encrypted stream; GenerateDataKey: sending to the KMS-encrypted queue.
        Sid      = "UseDataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = var.stream_arn
  function_name                      = var.function_arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  parallelization_factor             = var.parallelization_factor
  # A failing batch is halved until the bad record is alone, and each record is retried a bounded number
  # of times and for a bounded age: a poison record can never block its shard for the stream's retention.
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = var.maximum_retry_attempts
  maximum_record_age_in_seconds  = var.maximum_record_age_in_seconds
  function_response_types        = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.failure.arn
    }
  }

  depends_on = [aws_iam_role_policy.poller]
}
