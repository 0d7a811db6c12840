data "aws_region" "current" {}

# The identity provider of the read API's JWT authorizer: API Gateway checks the token's issuer (this
# pool) and audience (the app client) before a request reaches the function.
resource "aws_cognito_user_pool" "this" {
  name                     = var.name
  deletion_protection      = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  mfa_configuration        = var.mfa_configuration
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  tags                     = var.tags

  password_policy {
    minimum_length                   = var.password_minimum_length
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 7
  }

  dynamic "software_token_mfa_configuration" {
    for_each = var.mfa_configuration == "OFF" ? [] : [1]
    content {
      enabled = true
    }
  }

  admin_create_user_config {
    allow_admin_create_user_only = true # readers are provisioned, nobody signs up
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }
}

resource "aws_cognito_user_pool_client" "this" {
  for_each = toset(var.client_names)

  name                                 = each.value
  user_pool_id                         = aws_cognito_user_pool.this.id
  generate_secret                      = false
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  explicit_auth_flows                  = concat(["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"], var.admin_password_auth_enabled ? ["ALLOW_ADMIN_USER_PASSWORD_AUTH"] : [])
  access_token_validity                = var.access_token_validity_minutes
  id_token_validity                    = var.access_token_validity_minutes
  refresh_token_validity               = var.refresh_token_validity_days
  allowed_oauth_flows_user_pool_client = false

  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}

# Tenancy in the read API: a user's tenant is its one `tenant-<tenant>` group (created with the first user of a
# tenant, by an admin or `opsctl sandbox user add`); members of this group see every tenant.
resource "aws_cognito_user_group" "operators" {
  name         = var.operator_group_name
  user_pool_id = aws_cognito_user_pool.this.id
  description  = "Operators: the read API shows them every tenant's devices"
}
