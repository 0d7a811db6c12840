output "bucket_name" {
  description = "Name of the reports bucket."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the reports bucket."
  value       = aws_s3_bucket.this.arn
}

output "prefix" {
  description = "Key prefix of the reports."
  value       = var.prefix
}

output "objects_arn" {
  description = "ARN pattern of the report objects (what the capacity report function may write)."
  value       = "${aws_s3_bucket.this.arn}/${var.prefix}*"
}
