data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  log_group_name = "/aws/lambda/${var.name}"
  log_group_arn  = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:${local.log_group_name}"

  own_statements = [
    {
      sid       = "WriteOwnLogs"
      actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      resources = ["${local.log_group_arn}:*"]
    },
    {
      # X-Ray trace segments have no resource to scope to: AWS only accepts "*" for these two actions.
      sid       = "SendTraces"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    },
  ]
}

resource "aws_iam_role" "this" {
  name = "${var.name}-role"
  tags = var.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "LambdaAssumes"
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "this" {
  name = "${var.name}-least-privilege"
  role = aws_iam_role.this.name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [for s in concat(local.own_statements, var.policy_statements) : {
      Sid      = s.sid
      Effect   = "Allow"
      Action   = s.actions
      Resource = s.resources
    }]
  })
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Most functions are invoked synchronously (event source mappings keep failed batches in their own on-failure destination; API Gateway's caller gets the error); the one invoked asynchronously, the capacity report, is invoked by EventBridge Scheduler, whose schedule has its own dead-letter queue (lambda_schedule), and its failures alarm (report_errors).
  #checkov:skip=CKV_AWS_117:Talks only to AWS regional APIs (Kinesis, DynamoDB, S3, SQS, KMS); a VPC would add NAT or endpoint cost and no isolation for this function.
  #checkov:skip=CKV_AWS_272:The zip is built reproducibly in CI and pinned by source_code_hash; there is no AWS Signer profile in this project (nor in the sandbox).
  #checkov:skip=CKV_AWS_115:Reserved concurrency is the reserved_concurrent_executions variable, set per function by the pipeline: prod bounds the public api function (api_reserved_concurrency); Kinesis consumers are bounded by shards x parallelization factor and the rollup worker by its mapping's maximum_concurrency.
  function_name                  = var.name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  filename                       = var.zip_path
  source_code_hash               = filebase64sha256(var.zip_path)
  handler                        = var.handler
  runtime                        = "python3.12"
  memory_size                    = var.memory_mb
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn
  tags                           = var.tags

  environment {
    variables = var.environment_variables
  }

  tracing_config {
    mode = "Active"
  }

  # The log group (with its retention and key) must exist before the function's first log line creates a default one.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}
