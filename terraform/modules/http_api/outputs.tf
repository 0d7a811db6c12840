output "api_id" {
  description = "Id of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "api_endpoint" {
  description = "Base URL of the API (the $default stage is served at its root)."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "execution_arn" {
  description = "Execution ARN prefix of the API (for Lambda permissions)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "stage_name" {
  description = "Name of the stage (\"$default\": no path prefix)."
  value       = aws_apigatewayv2_stage.this.name
}

output "access_log_group_name" {
  description = "Log group of the stage's JSON access logs."
  value       = aws_cloudwatch_log_group.access.name
}

output "route_keys" {
  description = "Every route key of the API, $default (and the CORS preflight route) included."
  value       = sort(concat([for r in aws_apigatewayv2_route.this : r.route_key], [for r in aws_apigatewayv2_route.preflight : r.route_key]))
}
