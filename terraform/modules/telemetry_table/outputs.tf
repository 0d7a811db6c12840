output "table_name" {
  description = "Name of the table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.this.arn
}

output "autoscaling_target_ids" {
  description = "Scalable target resource ids by dimension (read, write); empty when PAY_PER_REQUEST."
  value       = { for k, t in aws_appautoscaling_target.this : k => t.id }
}
