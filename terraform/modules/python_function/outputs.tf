output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "role_name" {
  description = "Name of the function's execution role (other modules attach their own least-privilege policies to it)."
  value       = aws_iam_role.this.name
}

output "role_arn" {
  description = "ARN of the execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "timeout_seconds" {
  description = "Timeout of the function in seconds (an SQS source queue's visibility timeout is checked against it)."
  # The variable, not the resource's attribute: the same number, known at plan time, so a queue checked against it
  # need not wait for the function to be created (on the sandbox that wait was 15 s of every apply's longest chain).
  value = var.timeout_seconds
}
