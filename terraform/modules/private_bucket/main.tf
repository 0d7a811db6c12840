resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Access logging would need a second bucket per environment; each bucket is written by one function's role only (the quarantine: ingest; the reports: capacity report), traced in CloudTrail data events where an account enables them.
  #checkov:skip=CKV_AWS_144:Quarantined records are the only copy of poison data once the stream's retention passes, kept for diagnosis and replay until they expire; reports are regenerated from CloudWatch. Buckets are versioned against overwrite and deletion. A second region would hold device data there too, for a loss (the whole region) that also stops the pipeline that produced it.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to an object as it lands: operators list quarantined records with `opsctl quarantine list`, and a report's summary goes to the alerts topic from the function itself.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    # One data key per bucket rather than per object: far fewer KMS calls when a batch of objects lands.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-${var.purpose}"
    status = "Enabled"

    filter {
      prefix = var.prefix
    }

    expiration {
      days = var.expiry_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiry_days
    }
  }

  # Bucket-wide: a failed multipart upload anywhere is storage nobody can read.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Lifecycle rules on a versioned bucket need versioning configured first.
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_policy" "this" {
  count = var.deny_insecure_transport ? 1 : 0

  bucket = aws_s3_bucket.this.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  # A bucket policy put before the public access block could be judged public and refused.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
