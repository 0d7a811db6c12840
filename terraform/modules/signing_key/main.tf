data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# An HMAC key never leaves KMS: callers ask KMS for a MAC (GenerateMac); the read API uses one per key period to
# derive the in-memory subkey that signs its cursors.
# KMS does not rotate HMAC keys automatically (rotation is for symmetric encryption keys only).
resource "aws_kms_key" "this" {
  #checkov:skip=CKV_AWS_7:KMS supports automatic rotation only for symmetric encryption keys; an HMAC_256 key cannot be rotated automatically (rotate by replacing the key: cursors signed with the old one become a 400 and clients start over).
  description              = var.description
  customer_master_key_spec = "HMAC_256"
  key_usage                = "GENERATE_VERIFY_MAC"
  deletion_window_in_days  = var.deletion_window_in_days
  tags                     = var.tags

  # The account root administers the key; IAM policies grant GenerateMac to the one function that signs.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountRootAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
