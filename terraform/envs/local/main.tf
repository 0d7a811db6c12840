# The local sandbox: the same pipeline as dev and prod, served by a moto server (`opsctl sandbox up`).

provider "aws" {
  region     = var.region
  access_key = var.sandbox_access_key
  secret_key = var.sandbox_secret_key

  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    apigateway             = var.sandbox_endpoint
    apigatewayv2           = var.sandbox_endpoint
    applicationautoscaling = var.sandbox_endpoint
    cloudwatch             = var.sandbox_endpoint
    cognitoidp             = var.sandbox_endpoint
    dynamodb               = var.sandbox_endpoint
    events                 = var.sandbox_endpoint
    iam                    = var.sandbox_endpoint
    iot                    = var.sandbox_endpoint
    kinesis                = var.sandbox_endpoint
    kms                    = var.sandbox_endpoint
    lambda                 = var.sandbox_endpoint
    logs                   = var.sandbox_endpoint
    s3                     = var.sandbox_endpoint
    scheduler              = var.sandbox_endpoint
    sns                    = var.sandbox_endpoint
    sqs                    = var.sandbox_endpoint
    sts                    = var.sandbox_endpoint
  }
}

module "pipeline" {
  source = "../../modules/pipeline"

  environment      = "local"
  name_prefix      = "telemetry-local"
  runbook_base_url = var.runbook_base_url
  lambda_zip_path  = startswith(var.lambda_zip_path, "/") ? var.lambda_zip_path : "${path.module}/${var.lambda_zip_path}"

  stream_mode        = "PROVISIONED"
  ingest_shard_count = var.ingest_shard_count

  # moto cannot serve Application Auto Scaling targets (they hang): never auto scaling here. On demand by
  # default; `opsctl capacity --apply` (and its test) may switch the table to PROVISIONED through these variables.
  table_billing_mode        = var.table_billing_mode
  table_read_capacity       = var.table_read_capacity
  table_write_capacity      = var.table_write_capacity
  table_autoscaling_enabled = false

  capacity_report_schedule_enabled = var.capacity_report_schedule_enabled

  # Short waits so the local runtime sees failures quickly; still finite and bounded.
  ingest_batch_size                 = 100
  ingest_batching_window_seconds    = 1
  ingest_maximum_retry_attempts     = 3
  ingest_maximum_record_age_seconds = 3600

  # Rollups with short waits so `opsctl sandbox run --until-idle` sees a failing job reach the DLQ within a
  # minute: the 6x rule still holds (3 s worker timeout, 18 s visibility timeout), and batches of 5 jobs leave
  # room in 3 s for moto's slower queries on a busy laptop. moto cannot serve the DLQ's redrive-allow policy
  # (the apply would hang, docs/moto-gaps.md §Terraform against moto), so the sandbox goes without it.
  rollup_timeout_seconds                  = 3
  rollup_queue_visibility_timeout_seconds = 18
  rollup_max_receive_count                = 3
  table_deletion_protection               = false # `opsctl sandbox down` destroys the sandbox's tables
  rollup_queue_delay_seconds              = 0     # the demo and the e2e tests see rollups at once; coalescing is tested in tests/functions
  rollup_batch_size                       = 5
  rollup_batching_window_seconds          = 0
  rollup_maximum_concurrency              = 2
  rollup_redrive_allow_policy_enabled     = false

  # No tags (and no provider default_tags) in the sandbox: moto's CreateStream drops them, so a tagged
  # stream would show a diff on every plan.
  tags = {}

  kms_deletion_window_in_days = 7
  quarantine_force_destroy    = true
  # The sandbox is plain HTTP and moto enforces bucket-policy denies: a TLS-only bucket would refuse
  # every quarantine write of the ingest function.
  quarantine_deny_insecure_transport = false
  log_level                          = "DEBUG"

  # The read API with its JWT authorizer, as in dev and prod: moto's user pool issues real JWTs and serves its
  # JWKS, and `opsctl sandbox api` verifies tokens as API Gateway does. Admin password auth lets
  # `opsctl sandbox token NAME` sign a sandbox user in; no deletion protection, so `sandbox down` can go.
  api_jwt_auth_enabled              = true
  api_admin_password_auth_enabled   = true
  api_user_pool_deletion_protection = false
  api_cors_allow_origins            = ["http://localhost:8000"]
  api_throttling_burst_limit        = 100
  api_throttling_rate_limit         = 50
}
