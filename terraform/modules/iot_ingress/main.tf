data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  iot_arn    = "arn:${local.partition}:iot:${local.region}:${local.account_id}"
  # IoT rule names allow [a-zA-Z0-9_] only.
  rule_name = "${replace(var.name_prefix, "-", "_")}_telemetry"
  # dt/<tenant>/<device>/telemetry: topic(1) = "dt", topic(2) = tenant, topic(3) = device id (= thing name).
  topic_filter = "${var.topic_prefix}/+/+/telemetry"
  # The identity a reading carries into the pipeline comes from the topic, which the IoT policy binds to the
  # connected thing; the payload's own device_id is never trusted (docs/architecture.md, "IoT front door").
  rule_sql = "SELECT *, topic(2) AS tenant, topic(3) AS device_id FROM '${local.topic_filter}'"
}

resource "aws_iot_thing_type" "device" {
  name = "${var.name_prefix}-device"

  properties {
    description           = "A telemetry device: thing name = device id; attribute tenant binds its topic"
    searchable_attributes = ["tenant"]
  }
}

# One policy for every device, made specific by policy variables: a certificate attached to thing T of tenant
# N may connect only with client id T (and only while the certificate is attached to T), and publish only to
# dt/N/T/telemetry. N is the thing's `tenant` attribute, set by `opsctl devices register`.
resource "aws_iot_policy" "device" {
  name = "${var.name_prefix}-device"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "ConnectAsOwnThing"
        Effect    = "Allow"
        Action    = "iot:Connect"
        Resource  = "${local.iot_arn}:client/$${iot:Connection.Thing.ThingName}"
        Condition = { Bool = { "iot:Connection.Thing.IsAttached" = "true" } }
      },
      {
        Sid      = "PublishOwnTelemetry"
        Effect   = "Allow"
        Action   = "iot:Publish"
        Resource = "${local.iot_arn}:topic/${var.topic_prefix}/$${iot:Connection.Thing.Attributes[tenant]}/$${iot:Connection.Thing.ThingName}/telemetry"
      },
    ]
  })
}

# What the rule could not deliver (stream throttled, key unusable, ...) is kept here, 14 days, encrypted.
resource "aws_sqs_queue" "errors" {
  name                              = "${var.name_prefix}-iot-errors"
  message_retention_seconds         = 1209600 # 14 days, the SQS maximum
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

data "aws_iam_policy_document" "assume_by_iot" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["iot.amazonaws.com"]
    }
    # Only rules of this account may use the roles (confused-deputy guard).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "rule" {
  name               = "${var.name_prefix}-iot-rule"
  description        = "IoT topic rule ${local.rule_name}: PutRecord on the ingest stream, nothing else"
  assume_role_policy = data.aws_iam_policy_document.assume_by_iot.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "rule" {
  name = "put-record"
  role = aws_iam_role.rule.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "PutRecordOnIngestStream"
        Effect   = "Allow"
        Action   = ["kinesis:PutRecord"]
        Resource = [var.stream_arn]
      },
      {
        # The stream is encrypted with the key: a producer needs a data key to write to it.
        Sid      = "EncryptForStream"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}

resource "aws_iam_role" "error_action" {
  name               = "${var.name_prefix}-iot-errors"
  description        = "IoT topic rule ${local.rule_name} error action: SendMessage on its error queue, nothing else"
  assume_role_policy = data.aws_iam_policy_document.assume_by_iot.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "error_action" {
  name = "send-error"
  role = aws_iam_role.error_action.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "SendToErrorQueue"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [aws_sqs_queue.errors.arn]
      },
      {
        # SSE-KMS on the queue: a sender needs a data key (GenerateDataKey) and to read it back (Decrypt).
        Sid      = "EncryptForQueue"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}

resource "aws_iot_topic_rule" "telemetry" {
  name        = local.rule_name
  description = "Device telemetry to the ingest stream; device id and tenant from the topic, never the payload"
  enabled     = true
  sql         = local.rule_sql
  sql_version = "2016-03-23"
  tags        = var.tags

  kinesis {
    role_arn      = aws_iam_role.rule.arn
    stream_name   = var.stream_name
    partition_key = "$${topic(3)}" # the device id: a device's readings stay in order on one shard
  }

  error_action {
    sqs {
      role_arn   = aws_iam_role.error_action.arn
      queue_url  = aws_sqs_queue.errors.id
      use_base64 = true
    }
  }

  depends_on = [aws_iam_role_policy.rule, aws_iam_role_policy.error_action]
}
