# One CloudWatch alarm per entry of terraform/catalog/monitors.json (the same file the Datadog root and
# opsctl read). A monitor whose metric names a resource this environment does not have (an input left
# null) is not created.
locals {
  catalog = jsondecode(file("${path.module}/../../catalog/monitors.json")).monitors

  # What a "$name" dimension value of the catalog stands for.
  resources = {
    stream_name               = var.stream_name
    ingest_function_name      = var.ingest_function_name
    ingest_failure_queue_name = var.ingest_failure_queue_name
    table_name                = var.table_name
    alert_function_name       = var.alert_function_name
    alert_failure_queue_name  = var.alert_failure_queue_name
    api_id                    = var.api_id
    api_stage_name            = var.api_stage_name
    rollup_function_name      = var.rollup_function_name
    rollup_queue_name         = var.rollup_queue_name
    rollup_dlq_name           = var.rollup_dlq_name
    report_function_name      = var.report_function_name
    report_dlq_name           = var.report_dlq_name
  }

  monitors = {
    for id, m in local.catalog : id => merge(m, {
      dimensions = { for name, value in m.dimensions : name => startswith(value, "$") ? lookup(local.resources, trimprefix(value, "$"), null) : value }
      # The one threshold_<unit> key (the unit is in its name; tests/terraform/test_monitors.py checks it).
      threshold = one([for k, v in m : v if startswith(k, "threshold_")])
      # ExtendedStatistic for percentiles (p99), Statistic otherwise.
      percentile = can(regex("^p[0-9]", m.statistic))
      ratio      = lookup(m, "denominator_metric_name", null) != null
    })
    if alltrue([for value in values(m.dimensions) : !startswith(value, "$") || lookup(local.present, trimprefix(value, "$"), false)])
  }

  # Whether each resource exists, known at plan time (for_each keys must be): an API id is only known after
  # apply, so the API's alarms follow api_stage_name, which is given together with api_id (a literal).
  present = merge({ for name, value in local.resources : name => value != null }, { api_id = var.api_stage_name != null })

  # Every "$name" the catalog uses: a name the module does not know is a typo in the catalog.
  references = toset(flatten([for m in values(local.catalog) : [for v in values(m.dimensions) : trimprefix(v, "$") if startswith(v, "$")]]))
  unknown    = setsubtract(local.references, keys(local.resources))
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.monitors

  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = "${upper(each.value.severity)}: ${each.value.title}. ${each.value.description} Runbook: ${var.runbook_base_url}${each.value.runbook}"
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = each.value.datapoints_to_alarm
  treat_missing_data  = each.value.treat_missing_data
  alarm_actions       = [var.alerts_topic_arn]
  ok_actions          = [var.alerts_topic_arn]
  # For a monitor whose metric is a heartbeat (report_not_run): no data at all is the failure. A new alarm
  # starts in INSUFFICIENT_DATA without notifying, so only the change OK -> INSUFFICIENT_DATA pages.
  insufficient_data_actions = lookup(each.value, "notify_on_insufficient_data", false) ? [var.alerts_topic_arn] : null
  tags                      = merge(var.tags, { Severity = each.value.severity })

  lifecycle {
    precondition {
      condition     = length(local.unknown) == 0
      error_message = "terraform/catalog/monitors.json refers to resources the monitors module does not know: ${join(", ", local.unknown)}."
    }
  }

  # A single metric ...
  namespace          = each.value.ratio ? null : each.value.namespace
  metric_name        = each.value.ratio ? null : each.value.metric_name
  dimensions         = each.value.ratio ? null : each.value.dimensions
  period             = each.value.ratio ? null : each.value.period_seconds
  statistic          = each.value.ratio || each.value.percentile ? null : each.value.statistic
  extended_statistic = !each.value.ratio && each.value.percentile ? each.value.statistic : null

  # ... or a percentage: 100 x metric / denominator, 0 while the denominator is 0.
  dynamic "metric_query" {
    for_each = each.value.ratio ? { m1 = each.value.metric_name, m2 = each.value.denominator_metric_name } : {}
    content {
      id          = metric_query.key
      return_data = false
      metric {
        namespace   = each.value.namespace
        metric_name = metric_query.value
        dimensions  = each.value.dimensions
        period      = each.value.period_seconds
        stat        = each.value.statistic
      }
    }
  }

  dynamic "metric_query" {
    for_each = each.value.ratio ? ["e1"] : []
    content {
      id          = metric_query.value
      label       = "${each.value.metric_name} per ${each.value.denominator_metric_name} (percent)"
      expression  = "IF(m2 > 0, 100 * m1 / m2, 0)"
      return_data = true
    }
  }
}
