output "alarm_names" {
  description = "Alarm name by catalog id (only the monitors this environment has resources for)."
  value       = { for id, a in aws_cloudwatch_metric_alarm.this : id => a.alarm_name }
}

output "alarm_arns" {
  description = "Alarm ARN by catalog id."
  value       = { for id, a in aws_cloudwatch_metric_alarm.this : id => a.arn }
}
