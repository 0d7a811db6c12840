output "mapping_uuid" {
  description = "UUID of the event source mapping."
  value       = aws_lambda_event_source_mapping.this.uuid
}

output "failure_queue_url" {
  description = "URL of the on-failure destination queue."
  value       = aws_sqs_queue.failure.url
}

output "failure_queue_arn" {
  description = "ARN of the on-failure destination queue."
  value       = aws_sqs_queue.failure.arn
}

output "failure_queue_name" {
  description = "Name of the on-failure destination queue."
  value       = aws_sqs_queue.failure.name
}
