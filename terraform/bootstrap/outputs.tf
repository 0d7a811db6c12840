output "state_bucket" {
  description = "Name of the state bucket: the bucket of every env's backend."
  value       = aws_s3_bucket.state.bucket
}

output "state_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the state (an ARN, never key material)."
  value       = aws_kms_key.state.arn
}

output "backend_config" {
  description = "The lines of each env's backend.hcl: terraform -chdir=terraform/envs/<env> init -backend-config=backend.hcl"
  value       = "bucket       = \"${aws_s3_bucket.state.bucket}\"\nregion       = \"${var.region}\"\nkms_key_id   = \"${aws_kms_key.state.arn}\"\n"
}
