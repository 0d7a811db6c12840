# prod: real AWS, credentials from the usual chain (AWS_PROFILE, SSO, CI role).

# State lives in the bucket terraform/bootstrap creates: encrypted with its KMS key, versioned, and locked
# with Terraform's native S3 lock file (no DynamoDB table). bucket, region and kms_key_id come from
# backend.hcl (the bootstrap's backend_config output): terraform init -backend-config=backend.hcl
terraform {
  backend "s3" {
    key          = "telemetry-pipeline/prod/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { Project = "telemetry-pipeline", Environment = "prod" }
  }
}

module "pipeline" {
  source = "../../modules/pipeline"

  environment      = "prod"
  name_prefix      = "telemetry-prod"
  runbook_base_url = var.runbook_base_url
  lambda_zip_path  = startswith(var.lambda_zip_path, "/") ? var.lambda_zip_path : "${path.module}/${var.lambda_zip_path}"

  stream_mode            = "PROVISIONED"
  ingest_shard_count     = var.ingest_shard_count
  stream_retention_hours = 168 # a week to replay from the failure queue's pointers

  # On demand until a provisioned floor is given (variables.tf says why); then auto scaled from that floor.
  table_billing_mode        = local.table_provisioned ? "PROVISIONED" : "PAY_PER_REQUEST"
  table_autoscaling_enabled = local.table_provisioned
  table_autoscaling_read    = local.table_autoscaling_read
  table_autoscaling_write   = local.table_autoscaling_write

  capacity_report_schedule = var.capacity_report_schedule

  ingest_memory_mb                  = 512
  ingest_reserved_concurrency       = var.ingest_reserved_concurrency
  ingest_batch_size                 = 500
  ingest_batching_window_seconds    = 1
  ingest_parallelization_factor     = 2
  ingest_maximum_retry_attempts     = 5
  ingest_maximum_record_age_seconds = 21600

  # Rollups: the worker's timeout x6 is the queue's visibility timeout; the DLQ only for the rollup queue.
  rollup_timeout_seconds                  = 60
  rollup_queue_visibility_timeout_seconds = 360
  rollup_max_receive_count                = 5
  rollup_batch_size                       = 50
  rollup_batching_window_seconds          = 5
  rollup_maximum_concurrency              = 20
  rollup_redrive_allow_policy_enabled     = true

  log_level              = var.log_level
  log_retention_days     = 365
  quarantine_expiry_days = 90
  tags                   = var.tags

  # The read API: every route requires a JWT from the environment's Cognito user pool.
  alert_subscriptions        = var.alert_subscriptions
  api_jwt_auth_enabled       = true
  api_cors_allow_origins     = var.api_cors_allow_origins
  api_throttling_burst_limit = var.api_throttling_burst_limit
  api_throttling_rate_limit  = var.api_throttling_rate_limit
  api_reserved_concurrency   = var.api_reserved_concurrency
}

locals {
  table_provisioned = var.table_autoscaling_read != null || var.table_autoscaling_write != null
  # The half not given, when the other is: the design's load (~1,000 writes/s at a 70 % target; reads well below).
  table_autoscaling_read  = coalesce(var.table_autoscaling_read, { min_capacity = 100, max_capacity = 4000, target_utilization_percent = 70 })
  table_autoscaling_write = coalesce(var.table_autoscaling_write, { min_capacity = 1430, max_capacity = 4000, target_utilization_percent = 70 })
}
