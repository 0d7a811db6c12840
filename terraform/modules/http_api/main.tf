data "aws_region" "current" {}

locals {
  # Every route goes to the one function; `$default` too, so an unknown path gets the function's JSON
  # 404 ({"error": {...}}) instead of API Gateway's bare {"message": "Not Found"}.
  route_keys = toset(concat(var.routes, ["$default"]))
  jwt        = var.jwt_authorizer != null
  # $default also catches CORS preflights, and a browser sends no token with them: with CORS and JWT on,
  # an unauthenticated OPTIONS /{proxy+} route (higher priority than $default) lets them through, as the
  # API Gateway guide prescribes ("Configuring CORS for an HTTP API with a $default route and an authorizer").
  preflight = var.cors != null ? toset(["OPTIONS /{proxy+}"]) : toset([])
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  description   = var.description
  protocol_type = "HTTP"
  tags          = var.tags

  # CORS lives here, not in the handler: API Gateway answers preflight requests itself and adds the
  # Access-Control-* headers to the function's responses.
  dynamic "cors_configuration" {
    for_each = var.cors == null ? [] : [var.cors]
    content {
      allow_origins  = cors_configuration.value.allow_origins
      allow_methods  = cors_configuration.value.allow_methods
      allow_headers  = cors_configuration.value.allow_headers
      expose_headers = cors_configuration.value.expose_headers
      max_age        = cors_configuration.value.max_age_seconds
    }
  }
}

resource "aws_apigatewayv2_integration" "function" {
  api_id                 = aws_apigatewayv2_api.this.id
  description            = "Lambda proxy to ${var.function_name}"
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = var.function_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = local.jwt ? 1 : 0

  api_id           = aws_apigatewayv2_api.this.id
  name             = "${var.name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_authorizer.issuer
    audience = var.jwt_authorizer.audience
  }
}

resource "aws_apigatewayv2_route" "this" {
  #checkov:skip=CKV_AWS_309:Authorization is the jwt_authorizer variable: JWT in every environment, the sandbox included (tests/terraform/test_policies.py pins it); NONE only for a caller of the module that passes no authorizer.
  for_each = local.route_keys

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.function.id}"
  authorization_type = local.jwt ? "JWT" : "NONE"
  authorizer_id      = local.jwt ? aws_apigatewayv2_authorizer.jwt[0].id : null
  # API Gateway refuses a token without every scope listed (403): with Cognito, access tokens carry `scope`, ID
  # tokens none, so a scope here also keeps ID tokens out.
  authorization_scopes = local.jwt && length(var.jwt_authorizer.scopes) > 0 ? var.jwt_authorizer.scopes : null
}

resource "aws_apigatewayv2_route" "preflight" {
  #checkov:skip=CKV_AWS_309:CORS preflights carry no token by design (browsers never send Authorization with them); the function answers them with an empty 204 and API Gateway adds the CORS headers.
  for_each = local.preflight

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.function.id}"
  authorization_type = "NONE"
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true
  tags        = var.tags

  default_route_settings {
    throttling_burst_limit   = var.throttling_burst_limit
    throttling_rate_limit    = var.throttling_rate_limit
    detailed_metrics_enabled = var.detailed_metrics_enabled
  }

  # One JSON object per request; never a header or the query string (tokens and cursors stay out of logs).
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
      sub                = "$context.authorizer.claims.sub" # who called: the verified subject, never the token
    })
  }
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowInvokeFromHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = var.function_name
  principal     = "apigateway.amazonaws.com"
  # Any stage and route of this API only.
  source_arn = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
