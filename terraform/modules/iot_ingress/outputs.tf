output "thing_type_name" {
  description = "Thing type every device is registered with."
  value       = aws_iot_thing_type.device.name
}

output "policy_name" {
  description = "The IoT policy attached to every device certificate."
  value       = aws_iot_policy.device.name
}

output "topic_prefix" {
  description = "Devices publish to <topic_prefix>/<tenant>/<device id>/telemetry."
  value       = var.topic_prefix
}

output "rule_name" {
  description = "Name of the topic rule that routes telemetry to the ingest stream."
  value       = aws_iot_topic_rule.telemetry.name
}

output "error_queue_url" {
  description = "URL of the queue that keeps what the rule could not deliver."
  value       = aws_sqs_queue.errors.id
}

output "error_queue_arn" {
  description = "ARN of that queue."
  value       = aws_sqs_queue.errors.arn
}

output "rule_role_arn" {
  description = "ARN of the rule's role (PutRecord on the stream only)."
  value       = aws_iam_role.rule.arn
}
