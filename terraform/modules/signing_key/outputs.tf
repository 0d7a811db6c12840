output "key_arn" {
  description = "ARN of the HMAC key (the signer's KeyId; an identifier, not key material)."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "Key id."
  value       = aws_kms_key.this.key_id
}

output "alias_name" {
  description = "Full alias name (\"alias/...\")."
  value       = aws_kms_alias.this.name
}
