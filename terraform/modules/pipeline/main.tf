data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name
  tags   = var.tags
  ingest = "${var.name_prefix}-ingest"
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

  name                = "${var.name_prefix}-readings"
  kms_key_arn         = module.kms_key.key_arn
  billing_mode        = var.table_billing_mode
  read_capacity       = var.table_read_capacity
  write_capacity      = var.table_write_capacity
  autoscaling_enabled = var.table_autoscaling_enabled
  autoscaling_read    = var.table_autoscaling_read
  autoscaling_write   = var.table_autoscaling_write
  tags                = local.tags
}

module "quarantine_bucket" {
  source = "../quarantine_bucket"

  # Bucket names are global: the account and region make them unique per environment.
  bucket_name                    = "${var.name_prefix}-quarantine-${data.aws_caller_identity.current.account_id}-${local.region}"
  prefix                         = var.quarantine_prefix
  kms_key_arn                    = module.kms_key.key_arn
  quarantine_expiry_days         = var.quarantine_expiry_days
  noncurrent_version_expiry_days = var.quarantine_noncurrent_expiry_days
  deny_insecure_transport        = var.quarantine_deny_insecure_transport
  force_destroy                  = var.quarantine_force_destroy
  tags                           = local.tags
}

module "ingest_function" {
  source = "../python_function"

  name                           = local.ingest
  description                    = "Kinesis readings to DynamoDB; poison records to the S3 quarantine"
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
      # GenerateDataKey: SSE-KMS on the quarantine objects; Decrypt: the table and the environment variables.
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
      resources = [module.telemetry_table.table_arn]
    },
    {
      sid       = "SignCursors"
      actions   = ["kms:GenerateMac", "kms:VerifyMac"]
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

  name                = "${var.name_prefix}-api-readers"
  deletion_protection = var.api_user_pool_deletion_protection
  tags                = local.tags
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
  jwt_authorizer         = var.api_jwt_auth_enabled ? { issuer = module.api_users[0].issuer, audience = module.api_users[0].client_ids } : null
  kms_key_arn            = module.kms_key.key_arn
  log_retention_days     = var.log_retention_days
  tags                   = local.tags
}
