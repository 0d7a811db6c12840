output "stream_name" {
  description = "The alert stream."
  value       = module.stream.stream_name
}

output "stream_arn" {
  description = "ARN of the alert stream."
  value       = module.stream.stream_arn
}

output "function_name" {
  description = "The alert function."
  value       = module.function.function_name
}

output "failure_queue_name" {
  description = "On-failure queue of the alert consumer."
  value       = module.consumer.failure_queue_name
}

output "failure_queue_url" {
  description = "URL of the alert consumer's on-failure queue."
  value       = module.consumer.failure_queue_url
}

output "mapping_uuid" {
  description = "UUID of the alert stream's event source mapping."
  value       = module.consumer.mapping_uuid
}
