locals {
  provisioned = var.billing_mode == "PROVISIONED"
  autoscaled  = local.provisioned && var.autoscaling_enabled
  table       = local.autoscaled ? aws_dynamodb_table.autoscaled[0] : aws_dynamodb_table.this[0]

  scaling = {
    read = {
      dimension = "dynamodb:table:ReadCapacityUnits"
      metric    = "DynamoDBReadCapacityUtilization"
      min       = var.autoscaling_read.min_capacity
      max       = var.autoscaling_read.max_capacity
      target    = var.autoscaling_read.target_utilization_percent
    }
    write = {
      dimension = "dynamodb:table:WriteCapacityUnits"
      metric    = "DynamoDBWriteCapacityUtilization"
      min       = var.autoscaling_write.min_capacity
      max       = var.autoscaling_write.max_capacity
      target    = var.autoscaling_write.target_utilization_percent
    }
  }
}

# Two resources, one of them created (as terraform-aws-dynamodb-table does): with auto scaling on,
# Application Auto Scaling owns the capacity and Terraform must ignore it; without, the variables own it.
resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV2_AWS_16:This is the variant without Application Auto Scaling: on demand (PAY_PER_REQUEST scales by itself) or fixed capacity by choice; the auto scaled variant is aws_dynamodb_table.autoscaled.
  count = local.autoscaled ? 0 : 1

  name           = var.name
  billing_mode   = var.billing_mode
  hash_key       = "device_id"
  range_key      = var.range_key
  read_capacity  = local.provisioned ? var.read_capacity : null
  write_capacity = local.provisioned ? var.write_capacity : null
  tags           = var.tags

  # A table of a real environment is never one `apply` away from gone (console, CLI or Terraform).
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "device_id"
    type = "S"
  }

  # Epoch milliseconds: of the reading (ts) or of the start of the hour (hour_start, rollups).
  attribute {
    name = var.range_key
    type = "N"
  }

  # Epoch seconds: DynamoDB TTL never expires a value in milliseconds.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}

resource "aws_dynamodb_table" "autoscaled" {
  count = local.autoscaled ? 1 : 0

  name           = var.name
  billing_mode   = "PROVISIONED"
  hash_key       = "device_id"
  range_key      = var.range_key
  read_capacity  = var.read_capacity
  write_capacity = var.write_capacity
  tags           = var.tags

  # A table of a real environment is never one `apply` away from gone (console, CLI or Terraform).
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "device_id"
    type = "S"
  }

  # Epoch milliseconds: of the reading (ts) or of the start of the hour (hour_start, rollups).
  attribute {
    name = var.range_key
    type = "N"
  }

  # Epoch seconds: DynamoDB TTL never expires a value in milliseconds.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  lifecycle {
    # Application Auto Scaling moves the capacity between its min and max.
    ignore_changes = [read_capacity, write_capacity]
  }
}

resource "aws_appautoscaling_target" "this" {
  for_each = local.autoscaled ? local.scaling : {}

  service_namespace  = "dynamodb"
  resource_id        = "table/${aws_dynamodb_table.autoscaled[0].name}"
  scalable_dimension = each.value.dimension
  min_capacity       = each.value.min
  max_capacity       = each.value.max
}

resource "aws_appautoscaling_policy" "this" {
  for_each = aws_appautoscaling_target.this

  name               = "${var.name}-${each.key}-target-tracking"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = each.value.service_namespace
  resource_id        = each.value.resource_id
  scalable_dimension = each.value.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = local.scaling[each.key].target

    predefined_metric_specification {
      predefined_metric_type = local.scaling[each.key].metric
    }
  }
}
