output "topic_arn" {
  description = "ARN of the alerts topic."
  value       = aws_sns_topic.this.arn
}

output "topic_name" {
  description = "Name of the alerts topic."
  value       = aws_sns_topic.this.name
}

output "subscription_arns" {
  description = "ARN of each subscription by \"protocol:endpoint\" (\"pending confirmation\" until an email or https endpoint confirms)."
  value       = { for k, s in aws_sns_topic_subscription.this : k => s.arn }
}
