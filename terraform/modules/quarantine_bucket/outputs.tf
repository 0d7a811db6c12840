output "bucket_name" {
  description = "Name of the quarantine bucket."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the quarantine bucket."
  value       = aws_s3_bucket.this.arn
}

output "prefix" {
  description = "Key prefix of quarantined records."
  value       = var.prefix
}

output "objects_arn" {
  description = "ARN pattern of the quarantined objects (what the ingest function may write)."
  value       = "${aws_s3_bucket.this.arn}/${var.prefix}*"
}
