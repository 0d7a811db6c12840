# The device registry: which tenant a device belongs to, whether it may still send, and the certificate it
# sends with. The read API authorises every device route with one GetItem on it; `opsctl devices` keeps it in
# agreement with IoT's thing registry (the thing's `tenant` attribute is what the IoT policy binds the topic to).
resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV2_AWS_16:On demand (PAY_PER_REQUEST): a few writes per provisioning and one read per API request scale by themselves; there is no provisioned capacity to auto scale.
  name         = var.name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "device_id"
  tags         = var.tags

  attribute {
    name = "device_id"
    type = "S"
  }

  attribute {
    name = "tenant"
    type = "S"
  }

  # GET /devices and `opsctl devices list --tenant`: a tenant's devices in device id order, one Query a page.
  global_secondary_index {
    name            = var.tenant_index_name
    hash_key        = "tenant"
    range_key       = "device_id"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}
