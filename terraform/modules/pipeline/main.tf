data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name
  tags   = var.tags
  ingest = "${var.name_prefix}-ingest"
  rollup = "${var.name_prefix}-rollup"
  api    = "${var.name_prefix}-api"
}

module "kms_key" {
  source = "../kms_key"

  alias                   = var.name_prefix
  deletion_window_in_days = var.kms_deletion_window_in_days
  # Lambda logs (/aws/lambda/<prefix>-*) and the API's access logs (/aws/apigateway/<prefix>-*).
  log_group_name_pattern = "/aws/*/${var.name_prefix}-*"
  tags                   = local.tags
}

module "alerts_topic" {
  source = "../alerts_topic"

  name          = "${var.name_prefix}-alerts"
  kms_key_arn   = module.kms_key.key_arn
  subscriptions = var.alert_subscriptions
  tags          = local.tags
}

module "ingest_stream" {
  source = "../ingest_stream"

  name                   = "${var.name_prefix}-ingest"
  stream_mode            = var.stream_mode
  shard_count            = var.ingest_shard_count
  retention_period_hours = var.stream_retention_hours
  kms_key_arn            = module.kms_key.key_arn
  tags                   = local.tags
}

module "telemetry_table" {
  source = "../telemetry_table"

  name                        = "${var.name_prefix}-readings"
  deletion_protection_enabled = var.table_deletion_protection
  kms_key_arn                 = module.kms_key.key_arn
  billing_mode                = var.table_billing_mode
  read_capacity               = var.table_read_capacity
  write_capacity              = var.table_write_capacity
  autoscaling_enabled         = var.table_autoscaling_enabled
  autoscaling_read            = var.table_autoscaling_read
  autoscaling_write           = var.table_autoscaling_write
  tags                        = local.tags
}

module "quarantine_bucket" {
  source = "../private_bucket"

  # Bucket names are global: the account and region make them unique per environment.
  bucket_name                    = "${var.name_prefix}-quarantine-${data.aws_caller_identity.current.account_id}-${local.region}"
  purpose                        = "quarantine"
  prefix                         = var.quarantine_prefix
  kms_key_arn                    = module.kms_key.key_arn
  expiry_days                    = var.quarantine_expiry_days
  noncurrent_version_expiry_days = var.quarantine_noncurrent_expiry_days
  deny_insecure_transport        = var.quarantine_deny_insecure_transport
  force_destroy                  = var.quarantine_force_destroy
  tags                           = local.tags
}

module "ingest_function" {
  source = "../python_function"

  name                           = local.ingest
  description                    = "Kinesis readings to DynamoDB; poison records to the S3 quarantine; rollup jobs to SQS"
  zip_path                       = var.lambda_zip_path
  handler                        = "ingest.handler.handler"
  memory_mb                      = var.ingest_memory_mb
  timeout_seconds                = var.ingest_timeout_seconds
  reserved_concurrent_executions = var.ingest_reserved_concurrency
  kms_key_arn                    = module.kms_key.key_arn
  log_retention_days             = var.log_retention_days
  tags                           = local.tags

  # The contract of docs/architecture.md, names and units included.
  environment_variables = {
    TABLE_NAME                 = module.telemetry_table.table_name
    QUARANTINE_BUCKET          = module.quarantine_bucket.bucket_name
    QUARANTINE_PREFIX          = module.quarantine_bucket.prefix
    READING_TTL_DAYS           = tostring(var.reading_ttl_days)
    READING_MAX_AGE_DAYS       = tostring(var.reading_max_age_days)
    READING_MAX_FUTURE_SECONDS = tostring(var.reading_max_future_seconds)
    ROLLUP_QUEUE_URL           = module.rollup_consumer.queue_url
    LOG_LEVEL                  = var.log_level
    METRICS_NAMESPACE          = "TelemetryPipeline"
    ENVIRONMENT                = var.environment
  }

  # Exactly the calls the ingest function makes (docs/architecture.md), plus the key they need.
  policy_statements = [
    {
      sid       = "WriteReadings"
      actions   = ["dynamodb:BatchWriteItem"]
      resources = [module.telemetry_table.table_arn]
    },
    {
      sid       = "QuarantinePoison"
      actions   = ["s3:PutObject"]
      resources = [module.quarantine_bucket.objects_arn]
    },
    {
      # SendMessageBatch is authorised as sqs:SendMessage.
      sid       = "EnqueueRollupJobs"
      actions   = ["sqs:SendMessage"]
      resources = [module.rollup_consumer.queue_arn]
    },
    {
      # GenerateDataKey: SSE-KMS on the quarantine objects and the rollup queue; Decrypt: the table and the
      # environment variables.
      sid       = "UseDataKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [module.kms_key.key_arn]
    },
  ]
}

module "ingest_consumer" {
  source = "../kinesis_consumer"

  stream_arn                         = module.ingest_stream.stream_arn
  function_name                      = module.ingest_function.function_name
  function_arn                       = module.ingest_function.function_arn
  function_role_name                 = module.ingest_function.role_name
  kms_key_arn                        = module.kms_key.key_arn
  failure_queue_name                 = "${var.name_prefix}-ingest-failures"
  batch_size                         = var.ingest_batch_size
  maximum_batching_window_in_seconds = var.ingest_batching_window_seconds
  parallelization_factor             = var.ingest_parallelization_factor
  maximum_retry_attempts             = var.ingest_maximum_retry_attempts
  maximum_record_age_in_seconds      = var.ingest_maximum_record_age_seconds
  tags                               = local.tags
}

# --- the IoT Core front door and the device registry ----------------------------------------------------

# Devices publish over MQTT to dt/<tenant>/<device>/telemetry; the topic rule writes to the ingest stream with
# the device id from the topic as the partition key, which is what the ingest function trusts. Direct
# PutRecords stay open to trusted back-end producers that hold IAM credentials (docs/architecture.md).
module "iot_ingress" {
  source = "../iot_ingress"

  name_prefix  = var.name_prefix
  topic_prefix = var.iot_topic_prefix
  stream_name  = module.ingest_stream.stream_name
  stream_arn   = module.ingest_stream.stream_arn
  kms_key_arn  = module.kms_key.key_arn
  tags         = local.tags
}

module "device_registry" {
  source = "../device_registry"

  name        = "${var.name_prefix}-devices"
  kms_key_arn = module.kms_key.key_arn
  tags        = local.tags
}

# --- hourly rollups: ingest -> rollup queue -> rollup worker -> rollups table --------------------------------

module "rollup_table" {
  source = "../telemetry_table"

  # Hash device_id, range hour_start (epoch ms): a device's rollups over a time range are one Query, like its
  # readings; a table of its own keeps the readings' key space, capacity and TTL apart (docs/architecture.md).
  name                        = "${var.name_prefix}-rollups"
  deletion_protection_enabled = var.table_deletion_protection
  range_key                   = "hour_start"
  kms_key_arn                 = module.kms_key.key_arn
  billing_mode                = "PAY_PER_REQUEST" # one write per device-hour per ingest batch: spiky and small
  tags                        = local.tags
}

module "rollup_function" {
  source = "../python_function"

  name                           = local.rollup
  description                    = "SQS rollup jobs: recompute a device-hour from the readings, overwrite its rollup"
  zip_path                       = var.lambda_zip_path
  handler                        = "rollup.handler.handler"
  memory_mb                      = var.rollup_memory_mb
  timeout_seconds                = var.rollup_timeout_seconds
  reserved_concurrent_executions = null # bounded by the mapping's maximum_concurrency instead
  kms_key_arn                    = module.kms_key.key_arn
  log_retention_days             = var.log_retention_days
  tags                           = local.tags

  environment_variables = {
    READINGS_TABLE_NAME = module.telemetry_table.table_name
    ROLLUP_TABLE_NAME   = module.rollup_table.table_name
    ROLLUP_TTL_DAYS     = tostring(var.rollup_ttl_days)
    LOG_LEVEL           = var.log_level
    METRICS_NAMESPACE   = "TelemetryPipeline"
    ENVIRONMENT         = var.environment
  }

  # Exactly the calls the worker makes (docs/architecture.md); its queue permissions come from rollup_consumer.
  policy_statements = [
    {
      sid       = "ReadReadings"
      actions   = ["dynamodb:Query"]
      resources = [module.telemetry_table.table_arn]
    },
    {
      # A conditional PutItem overwrites the hour's rollup (newer read wins); one BatchGetItem per batch reads the
      # stored rollups' computed_at first, so a job whose readings the stored rollup already saw is not recomputed
      # (coalescing).
      sid       = "WriteRollups"
      actions   = ["dynamodb:BatchGetItem", "dynamodb:PutItem"]
      resources = [module.rollup_table.table_arn]
    },
    {
      # The tables and the environment variables are encrypted with the key.
      sid       = "DecryptWithKey"
      actions   = ["kms:Decrypt"]
      resources = [module.kms_key.key_arn]
    },
  ]
}

module "rollup_consumer" {
  source = "../sqs_consumer"

  queue_name                         = "${var.name_prefix}-rollup-jobs"
  dlq_name                           = "${var.name_prefix}-rollup-jobs-dlq"
  kms_key_arn                        = module.kms_key.key_arn
  function_name                      = module.rollup_function.function_name
  function_arn                       = module.rollup_function.function_arn
  function_role_name                 = module.rollup_function.role_name
  function_timeout_seconds           = module.rollup_function.timeout_seconds
  visibility_timeout_seconds         = var.rollup_queue_visibility_timeout_seconds
  message_retention_seconds          = var.rollup_queue_retention_seconds
  delay_seconds                      = var.rollup_queue_delay_seconds
  max_receive_count                  = var.rollup_max_receive_count
  redrive_allow_policy_enabled       = var.rollup_redrive_allow_policy_enabled
  batch_size                         = var.rollup_batch_size
  maximum_batching_window_in_seconds = var.rollup_batching_window_seconds
  maximum_concurrency                = var.rollup_maximum_concurrency
  tags                               = local.tags
}

# ERROR lines of every function → the alert stream → the alert function → one grouped message on the
# alerts topic. Each new function adds its log group here (never the alert function's own).
module "log_alerts" {
  source = "../log_alerts"

  name_prefix        = var.name_prefix
  environment        = var.environment
  zip_path           = var.lambda_zip_path
  kms_key_arn        = module.kms_key.key_arn
  alerts_topic_arn   = module.alerts_topic.topic_arn
  log_level          = var.log_level
  log_retention_days = var.log_retention_days
  tags               = local.tags

  log_group_names = {
    ingest          = module.ingest_function.log_group_name
    rollup          = module.rollup_function.log_group_name
    capacity_report = module.capacity_report_function.log_group_name
    api             = module.api_function.log_group_name
  }
}

# Every monitor of terraform/catalog/monitors.json this environment has resources for, as a CloudWatch
# alarm that notifies the alerts topic and links its runbook. The read API (issue 3), rollups (issue 4)
# and the scheduled report (issue 7) pass their names here when they land; until then their alarms are
# left out.
module "monitors" {
  source = "../monitors"

  name_prefix      = var.name_prefix
  alerts_topic_arn = module.alerts_topic.topic_arn
  runbook_base_url = var.runbook_base_url
  tags             = local.tags

  stream_name               = module.ingest_stream.stream_name
  ingest_function_name      = module.ingest_function.function_name
  ingest_failure_queue_name = module.ingest_consumer.failure_queue_name
  table_name                = module.telemetry_table.table_name
  alert_function_name       = module.log_alerts.function_name
  alert_failure_queue_name  = module.log_alerts.failure_queue_name
  rollup_function_name      = module.rollup_function.function_name
  rollup_queue_name         = module.rollup_consumer.queue_name
  rollup_dlq_name           = module.rollup_consumer.dlq_name
  report_function_name      = module.capacity_report_function.function_name
  report_dlq_name           = var.capacity_report_schedule_enabled ? module.capacity_report_schedule[0].dead_letter_queue_name : null
  api_id                    = module.http_api.api_id
  api_stage_name            = module.http_api.stage_name
}

# --- the scheduled capacity report (opsctl report, run by EventBridge Scheduler) ---------------------------

module "reports_bucket" {
  source = "../private_bucket"

  bucket_name                    = "${var.name_prefix}-reports-${data.aws_caller_identity.current.account_id}-${local.region}"
  purpose                        = "reports"
  prefix                         = "reports/"
  kms_key_arn                    = module.kms_key.key_arn
  expiry_days                    = var.reports_expiry_days
  noncurrent_version_expiry_days = var.reports_noncurrent_expiry_days
  deny_insecure_transport        = var.quarantine_deny_insecure_transport
  force_destroy                  = var.quarantine_force_destroy
  tags                           = local.tags
}

module "capacity_report_function" {
  source = "../python_function"

  name               = "${var.name_prefix}-capacity-report"
  description        = "Daily capacity report: DynamoDB, Kinesis, Lambda, queues; stored in S3, summary to the alerts topic"
  zip_path           = var.lambda_zip_path
  handler            = "capacity_report.handler.handler"
  memory_mb          = 256
  timeout_seconds    = 120
  kms_key_arn        = module.kms_key.key_arn
  log_retention_days = var.log_retention_days
  tags               = local.tags

  environment_variables = {
    ENVIRONMENT       = var.environment
    TABLE_NAMES       = "${module.telemetry_table.table_name},${module.rollup_table.table_name}"
    STREAM_NAME       = module.ingest_stream.stream_name
    QUEUE_URLS        = "ingest_failure_queue_url=${module.ingest_consumer.failure_queue_url},rollup_queue_url=${module.rollup_consumer.queue_url},rollup_dlq_url=${module.rollup_consumer.dlq_url}"
    REPORTS_BUCKET    = module.reports_bucket.bucket_name
    REPORTS_PREFIX    = module.reports_bucket.prefix
    ALERTS_TOPIC_ARN  = module.alerts_topic.topic_arn
    REPORT_WINDOW     = var.capacity_report_window
    METRICS_NAMESPACE = "TelemetryPipeline"
    LOG_LEVEL         = var.log_level
  }

  # Exactly the calls functions/capacity_report makes. Where AWS offers no resource-level permission
  # (GetMetricData, Application Auto Scaling's Describe*, ListEventSourceMappings, GetAccountSettings), "*" is the only choice.
  policy_statements = [
    {
      sid       = "DescribeTable"
      actions   = ["dynamodb:DescribeTable"]
      resources = [module.telemetry_table.table_arn, module.rollup_table.table_arn]
    },
    {
      sid       = "ReadWithoutResourceLevelPermissions"
      actions   = ["cloudwatch:GetMetricData", "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies", "lambda:ListEventSourceMappings", "lambda:GetAccountSettings"]
      resources = ["*"]
    },
    {
      sid       = "DescribeStream"
      actions   = ["kinesis:DescribeStreamSummary", "kinesis:ListShards"]
      resources = [module.ingest_stream.stream_arn]
    },
    {
      sid       = "ConsumerConcurrency"
      actions   = ["lambda:GetFunctionConcurrency"]
      resources = [module.ingest_function.function_arn]
    },
    {
      sid       = "QueueDepths"
      actions   = ["sqs:GetQueueAttributes"]
      resources = [module.ingest_consumer.failure_queue_arn, module.rollup_consumer.queue_arn, module.rollup_consumer.dlq_arn]
    },
    {
      sid       = "StoreReports"
      actions   = ["s3:PutObject"]
      resources = [module.reports_bucket.objects_arn]
    },
    {
      sid       = "PublishSummary"
      actions   = ["sns:Publish"]
      resources = [module.alerts_topic.topic_arn]
    },
    {
      # GenerateDataKey: SSE-KMS on the reports and the encrypted topic; Decrypt: the environment variables.
      sid       = "UseDataKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [module.kms_key.key_arn]
    },
  ]
}

module "capacity_report_schedule" {
  source = "../lambda_schedule"
  count  = var.capacity_report_schedule_enabled ? 1 : 0

  name                = "${var.name_prefix}-capacity-report"
  description         = "Runs the capacity report (opsctl report) on a schedule"
  schedule_expression = var.capacity_report_schedule
  function_arn        = module.capacity_report_function.function_arn
  kms_key_arn         = module.kms_key.key_arn
  tags                = local.tags
}

# --- the read API: HTTP API -> api function -> telemetry table -----------------------------------------

module "api_signing_key" {
  source = "../signing_key"

  alias                   = "${var.name_prefix}-api-cursor"
  deletion_window_in_days = var.kms_deletion_window_in_days
  tags                    = local.tags
}

module "api_function" {
  source = "../python_function"

  name                           = local.api
  description                    = "Read API: device readings from DynamoDB over API Gateway (payload 2.0)"
  zip_path                       = var.lambda_zip_path
  handler                        = "api.handler.handler"
  memory_mb                      = var.api_memory_mb
  timeout_seconds                = var.api_timeout_seconds
  reserved_concurrent_executions = var.api_reserved_concurrency
  kms_key_arn                    = module.kms_key.key_arn
  log_retention_days             = var.log_retention_days
  tags                           = local.tags

  # The contract of docs/architecture.md ("Read API").
  environment_variables = {
    TABLE_NAME               = module.telemetry_table.table_name
    ROLLUP_TABLE_NAME        = module.rollup_table.table_name
    REGISTRY_TABLE_NAME      = module.device_registry.table_name
    REGISTRY_TENANT_INDEX    = module.device_registry.tenant_index_name
    CURSOR_KEY_ARN           = module.api_signing_key.key_arn
    CURSOR_TTL_SECONDS       = tostring(var.api_cursor_ttl_seconds)
    READINGS_MAX_AGE_SECONDS = tostring(var.api_readings_max_age_seconds)
    LOG_LEVEL                = var.log_level
    ENVIRONMENT              = var.environment
  }

  # Exactly the calls the api function makes, on its own resources.
  policy_statements = [
    {
      sid       = "ReadReadings"
      actions   = ["dynamodb:Query"] # every route reads with Query (latest = newest first, Limit 1); no GetItem call exists
      resources = [module.telemetry_table.table_arn, module.rollup_table.table_arn]
    },
    {
      # Every device route: is this device the caller's? One GetItem on the registry, nothing else on the table.
      sid       = "CheckDeviceTenant"
      actions   = ["dynamodb:GetItem"]
      resources = [module.device_registry.table_arn]
    },
    {
      # GET /devices: a tenant's devices through the tenant index only (the table itself is never queried or scanned).
      sid       = "ListTenantDevices"
      actions   = ["dynamodb:Query"]
      resources = [module.device_registry.tenant_index_arn]
    },
    {
      # GenerateMac derives the cursor-signing subkey once per container and key period; cursors are signed and
      # checked locally with it (functions/api/cursor.py), so VerifyMac is never called and not granted.
      sid       = "DeriveCursorSubkeys"
      actions   = ["kms:GenerateMac"]
      resources = [module.api_signing_key.key_arn]
    },
    {
      # Lambda decrypts the function's environment variables with the data key at start-up.
      sid       = "DecryptEnvironment"
      actions   = ["kms:Decrypt"]
      resources = [module.kms_key.key_arn]
    },
  ]
}

module "api_users" {
  source = "../cognito_user_pool"
  count  = var.api_jwt_auth_enabled ? 1 : 0

  name                        = "${var.name_prefix}-api-readers"
  deletion_protection         = var.api_user_pool_deletion_protection
  admin_password_auth_enabled = var.api_admin_password_auth_enabled
  tags                        = local.tags
}

module "http_api" {
  source = "../http_api"

  name                   = local.api
  description            = "Telemetry read API (${var.environment})"
  function_name          = module.api_function.function_name
  function_arn           = module.api_function.function_arn
  routes                 = var.api_routes
  cors                   = length(var.api_cors_allow_origins) == 0 ? null : { allow_origins = var.api_cors_allow_origins }
  throttling_burst_limit = var.api_throttling_burst_limit
  throttling_rate_limit  = var.api_throttling_rate_limit
  jwt_authorizer         = var.api_jwt_auth_enabled ? { issuer = module.api_users[0].issuer, audience = module.api_users[0].client_ids, scopes = var.api_authorization_scopes } : null
  kms_key_arn            = module.kms_key.key_arn
  log_retention_days     = var.log_retention_days
  tags                   = local.tags
}
