resource "aws_kinesis_stream" "this" {
  name             = var.name
  shard_count      = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  retention_period = var.retention_period_hours
  encryption_type  = "KMS"
  kms_key_id       = var.kms_key_arn
  tags             = var.tags

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  lifecycle {
    # `opsctl reshard` changes the open shard count at run time (legal UpdateShardCount steps) and records
    # the result in the environment's variables as `ingest_shard_count`; Terraform must not undo a reshard
    # in flight nor fight one whose record has not been committed yet.
    ignore_changes = [shard_count]
  }
}
