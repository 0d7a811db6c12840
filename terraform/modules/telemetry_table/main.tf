locals {
  provisioned = var.billing_mode == "PROVISIONED"
  autoscaled  = local.provisioned && var.autoscaling_enabled

  # With PROVISIONED, Application Auto Scaling always owns the capacity: auto scaled, between the variables' min
  # and max; fixed, with min = max = read_capacity / write_capacity. RegisterScalableTarget moves the table's
  # capacity into [min, max] on every call (create or update), so a fixed value still reaches the table.
  scaling = {
    read = {
      dimension = "dynamodb:table:ReadCapacityUnits"
      metric    = "DynamoDBReadCapacityUtilization"
      min       = local.autoscaled ? var.autoscaling_read.min_capacity : var.read_capacity
      max       = local.autoscaled ? var.autoscaling_read.max_capacity : var.read_capacity
      target    = var.autoscaling_read.target_utilization_percent
    }
    write = {
      dimension = "dynamodb:table:WriteCapacityUnits"
      metric    = "DynamoDBWriteCapacityUtilization"
      min       = local.autoscaled ? var.autoscaling_write.min_capacity : var.write_capacity
      max       = local.autoscaled ? var.autoscaling_write.max_capacity : var.write_capacity
      target    = var.autoscaling_write.target_utilization_percent
    }
  }
}

# ONE table resource whatever the mode: a billing-mode or auto-scaling switch is an in-place UpdateTable, never a
# destroy and create (README.md §One table whatever the mode). Its capacity is only the starting value: after
# creation Application Auto Scaling sets it (targets below), so Terraform ignores it rather than fight the scaler.
resource "aws_dynamodb_table" "this" {
  name           = var.name
  billing_mode   = var.billing_mode
  hash_key       = "device_id"
  range_key      = var.range_key
  read_capacity  = local.provisioned ? local.scaling.read.min : null
  write_capacity = local.provisioned ? local.scaling.write.min : null
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
    # The scalable targets own the capacity (fixed or auto scaled). A switch from PAY_PER_REQUEST sends the
    # provider's minimum (1) with the new billing mode; the targets, created next, raise it to their min.
    ignore_changes = [read_capacity, write_capacity]
  }
}

# Addresses of the two-resource module (before the table was one resource): `this[0]` held the on-demand or
# fixed-capacity table, `autoscaled[0]` the auto scaled one. Terraform allows one move per destination, so the
# auto scaled address moves through `this[0]` (a chain), and every old state lands on `this` without replacement
# (tests/e2e/test_table_switch_sandbox.py applies each old shape and plans with this module).
moved {
  from = aws_dynamodb_table.autoscaled[0]
  to   = aws_dynamodb_table.this[0]
}

moved {
  from = aws_dynamodb_table.this[0]
  to   = aws_dynamodb_table.this
}

resource "aws_appautoscaling_target" "this" {
  for_each = local.provisioned ? local.scaling : {}

  service_namespace  = "dynamodb"
  resource_id        = "table/${aws_dynamodb_table.this.name}"
  scalable_dimension = each.value.dimension
  min_capacity       = each.value.min
  max_capacity       = each.value.max
}

resource "aws_appautoscaling_policy" "this" {
  for_each = { for k, t in aws_appautoscaling_target.this : k => t if local.autoscaled }

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
