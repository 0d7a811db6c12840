# dev: real AWS, credentials from the usual chain (AWS_PROFILE, SSO, instance role).

# State lives in the bucket terraform/bootstrap creates: encrypted with its KMS key, versioned, and locked
# with Terraform's native S3 lock file (no DynamoDB table). bucket, region and kms_key_id come from
# backend.hcl (the bootstrap's backend_config output): terraform init -backend-config=backend.hcl
terraform {
  backend "s3" {
    key          = "telemetry-pipeline/dev/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { Project = "telemetry-pipeline", Environment = "dev" }
  }
}

module "pipeline" {
  source = "../../modules/pipeline"

  environment      = "dev"
  name_prefix      = "telemetry-dev"
  runbook_base_url = var.runbook_base_url
  lambda_zip_path  = startswith(var.lambda_zip_path, "/") ? var.lambda_zip_path : "${path.module}/${var.lambda_zip_path}"

  stream_mode            = "PROVISIONED"
  ingest_shard_count     = var.ingest_shard_count
  stream_retention_hours = 24

  table_billing_mode        = var.table_billing_mode
  table_read_capacity       = var.table_read_capacity
  table_write_capacity      = var.table_write_capacity
  table_autoscaling_enabled = false

  capacity_report_schedule = var.capacity_report_schedule

  ingest_batch_size                 = 100
  ingest_batching_window_seconds    = 1
  ingest_maximum_retry_attempts     = 3
  ingest_maximum_record_age_seconds = 3600

  # Rollups: the worker's timeout x6 is the queue's visibility timeout; the DLQ only for the rollup queue.
  rollup_timeout_seconds                  = 30
  rollup_queue_visibility_timeout_seconds = 180
  rollup_max_receive_count                = 5
  rollup_batch_size                       = 10
  rollup_batching_window_seconds          = 5
  rollup_maximum_concurrency              = 5
  rollup_redrive_allow_policy_enabled     = true

  log_level              = var.log_level
  log_retention_days     = 365
  quarantine_expiry_days = 30
  tags                   = var.tags

  # The read API: every route requires a JWT from the environment's Cognito user pool.
  alert_subscriptions        = var.alert_subscriptions
  api_jwt_auth_enabled       = true
  api_cors_allow_origins     = var.api_cors_allow_origins
  api_throttling_burst_limit = var.api_throttling_burst_limit
  api_throttling_rate_limit  = var.api_throttling_rate_limit
}
