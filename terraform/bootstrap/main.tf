# The one thing that must exist before any env can keep its state remotely: the state bucket, its KMS key,
# versioned, private and TLS-only. Applied once per account with local state (this root's own state holds
# no secret: two ARNs and a name); every env's backend "s3" block then points at the bucket, with
# Terraform's native lock file (use_lockfile, Terraform >= 1.10) instead of a DynamoDB lock table.
provider "aws" {
  region = var.region

  default_tags {
    tags = { Project = "telemetry-pipeline", ManagedBy = "terraform", Root = "bootstrap" }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  bucket_name = coalesce(var.bucket_name, "telemetry-pipeline-tfstate-${local.account_id}")
}

resource "aws_kms_key" "state" {
  description             = "Encrypts the Terraform state of telemetry-pipeline (it names every resource and may hold outputs)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministersAndUsesTheKey" # IAM policies decide who; nothing outside the account
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
}

resource "aws_kms_alias" "state" {
  name          = "alias/telemetry-pipeline-tfstate"
  target_key_id = aws_kms_key.state.key_id
}

# Why not module "private_bucket" (which has the same encryption, versioning, public-access block and TLS-only
# policy): the state bucket needs two things the module cannot give without changing every bucket it makes.
# - prevent_destroy: lifecycle arguments take literal values only, so a module cannot make it a variable; set in
#   the module it would stop `opsctl sandbox down` and any env's destroy of its quarantine and reports buckets.
# - no expiry of current objects: the module's lifecycle rule expires every object after `expiry_days`; the
#   state must only lose old versions (noncurrent_version_expiration below).
# Moving this bucket into the module (with `moved` blocks) would thus drop its protection against destroy or
# expire the state itself; tests/terraform/test_prod_readiness.py pins both.
resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket; CloudTrail data events are the audit trail for state reads and writes if an account needs one.
  #checkov:skip=CKV_AWS_144:Versioning keeps every state version to roll back to; the state of a region's resources is of no use when that region is down.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to a state write; Terraform's lock file serialises writers.
  bucket = local.bucket_name

  lifecycle {
    prevent_destroy = true # losing the state orphans every resource of every env
  }
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiry_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.state]
}
