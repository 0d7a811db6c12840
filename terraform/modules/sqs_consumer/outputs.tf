output "queue_url" {
  description = "URL of the work queue."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "ARN of the work queue."
  value       = aws_sqs_queue.this.arn
}

output "queue_name" {
  description = "Name of the work queue."
  value       = aws_sqs_queue.this.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue (also found from the work queue with ListDeadLetterSourceQueues / its RedrivePolicy)."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_name" {
  description = "Name of the dead-letter queue (the alarms' QueueName dimension)."
  value       = aws_sqs_queue.dlq.name
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "mapping_uuid" {
  description = "UUID of the event source mapping."
  value       = aws_lambda_event_source_mapping.this.uuid
}
