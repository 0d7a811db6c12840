data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
}

# Where the functions' ERROR lines go: one shard carries far more log lines than a pipeline should ever
# write as errors (1,000 records/s, each a whole batch of log events).
module "stream" {
  source = "../ingest_stream"

  name                   = "${var.name_prefix}-log-alerts"
  stream_mode            = "PROVISIONED"
  shard_count            = 1
  retention_period_hours = 24
  kms_key_arn            = var.kms_key_arn
  tags                   = var.tags
}

module "function" {
  source = "../python_function"

  name               = "${var.name_prefix}-alert"
  description        = "ERROR lines of the pipeline's functions, grouped, to the alerts topic"
  zip_path           = var.zip_path
  handler            = "alert.handler.handler"
  memory_mb          = 256
  timeout_seconds    = 60
  kms_key_arn        = var.kms_key_arn
  log_retention_days = var.log_retention_days
  tags               = var.tags

  environment_variables = {
    ALERTS_TOPIC_ARN = var.alerts_topic_arn
    ENVIRONMENT      = var.environment
    LOG_LEVEL        = var.log_level
  }

  # Exactly what functions/alert calls: one Publish to the topic, which is encrypted with the key.
  policy_statements = [
    {
      sid       = "PublishAlerts"
      actions   = ["sns:Publish"]
      resources = [var.alerts_topic_arn]
    },
    {
      # GenerateDataKey + Decrypt: publishing to a KMS-encrypted topic; Decrypt: the environment variables.
      sid       = "UseDataKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.kms_key_arn]
    },
  ]
}

# The stream's read actions (and the failure queue) go to the function's role with the mapping.
module "consumer" {
  source = "../kinesis_consumer"

  stream_arn                         = module.stream.stream_arn
  function_name                      = module.function.function_name
  function_arn                       = module.function.function_arn
  function_role_name                 = module.function.role_name
  kms_key_arn                        = var.kms_key_arn
  failure_queue_name                 = "${var.name_prefix}-alert-failures"
  batch_size                         = 100
  maximum_batching_window_in_seconds = 5 # errors in bursts: one message for a burst, not one per line
  parallelization_factor             = 1
  maximum_retry_attempts             = 3
  maximum_record_age_in_seconds      = 3600
  tags                               = var.tags
}

# What CloudWatch Logs assumes to write to the stream: only for this account's log groups of this pipeline.
resource "aws_iam_role" "logs" {
  name = "${var.name_prefix}-logs-to-alerts"
  tags = var.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CloudWatchLogsAssumes"
      Effect    = "Allow"
      Principal = { Service = "logs.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringLike = { "aws:SourceArn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name_prefix}-*" }
      }
    }]
  })
}

resource "aws_iam_role_policy" "logs" {
  name = "${var.name_prefix}-logs-to-alerts"
  role = aws_iam_role.logs.name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "PutLogRecords"
        Effect   = "Allow"
        Action   = ["kinesis:PutRecord"]
        Resource = [module.stream.stream_arn]
      },
      {
        # The stream is encrypted with the key: each write needs a data key.
        Sid      = "UseDataKey"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}

# Error lines in every format a function's log carries: our JSON lines (functions/common/log.py), and the
# Lambda Python runtime's own unhandled-exception, init-failure, timeout and runtime-exit lines in the Text and
# JSON log formats. Unstructured terms, OR'd: a JSON pattern ({ $.level = "ERROR" }) matches none of the
# runtime's Text lines. functions/alert/handler.py FILTER_PATTERN is the same string (a test keeps them equal)
# and parses each line it lets through.
resource "aws_cloudwatch_log_subscription_filter" "errors" {
  for_each = var.log_group_names

  name            = "${var.name_prefix}-errors-to-alerts"
  log_group_name  = each.value
  filter_pattern  = "?ERROR ?\"Task timed out\" ?\"Sandbox.Timedout\" ?\"Runtime exited\""
  destination_arn = module.stream.stream_arn
  role_arn        = aws_iam_role.logs.arn

  depends_on = [aws_iam_role_policy.logs]
}
