output "table_name" {
  description = "Name of the device registry table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the device registry table."
  value       = aws_dynamodb_table.this.arn
}

output "tenant_index_name" {
  description = "Name of the tenant index (hash tenant, range device_id)."
  value       = var.tenant_index_name
}

output "tenant_index_arn" {
  description = "ARN of the tenant index (what a Query on it is authorised against)."
  value       = "${aws_dynamodb_table.this.arn}/index/${var.tenant_index_name}"
}
