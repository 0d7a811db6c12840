output "user_pool_id" {
  description = "Id of the user pool."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "ARN of the user pool."
  value       = aws_cognito_user_pool.this.arn
}

output "issuer" {
  description = "JWT issuer URL of the pool (what a JWT authorizer checks the `iss` claim against)."
  value       = "https://cognito-idp.${data.aws_region.current.name}.amazonaws.com/${aws_cognito_user_pool.this.id}"
}

output "client_ids" {
  description = "Ids of the app clients (the JWT audiences); identifiers, not secrets (the clients have none)."
  value       = [for c in aws_cognito_user_pool_client.this : c.id]
}

output "operator_group_name" {
  description = "Group whose members see every tenant."
  value       = aws_cognito_user_group.operators.name
}
