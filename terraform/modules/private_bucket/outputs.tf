output "bucket_name" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "prefix" {
  description = "Key prefix of the objects."
  value       = var.prefix
}

output "objects_arn" {
  description = "ARN pattern of the objects under the prefix (what the writing function may put)."
  value       = "${aws_s3_bucket.this.arn}/${var.prefix}*"
}
