output "table_name" {
  description = "Name of the table."
  value       = local.table.name
}

output "table_arn" {
  description = "ARN of the table."
  value       = local.table.arn
}

output "autoscaling_target_ids" {
  description = "Scalable target resource ids by dimension (read, write); empty without auto scaling."
  value       = { for k, t in aws_appautoscaling_target.this : k => t.id }
}
