output "schedule_name" {
  description = "Name of the schedule."
  value       = aws_scheduler_schedule.this.name
}

output "schedule_arn" {
  description = "ARN of the schedule."
  value       = aws_scheduler_schedule.this.arn
}

output "role_arn" {
  description = "ARN of the role the schedule invokes the function with (lambda:InvokeFunction on it, nothing else)."
  value       = aws_iam_role.this.arn
}

output "dead_letter_queue_name" {
  description = "Name of the SQS queue that keeps invocations Scheduler could not deliver."
  value       = aws_sqs_queue.dead_letter.name
}

output "dead_letter_queue_url" {
  description = "URL of the schedule's dead-letter queue."
  value       = aws_sqs_queue.dead_letter.url
}
