# The Datadog monitor of every entry of terraform/catalog/monitors.json whose resources are given: name,
# query, message, tags. No provider and no resource here, so this module can be planned and tested on a
# machine without the Datadog provider (tests/terraform/test_datadog.py renders every query).
locals {
  catalog = jsondecode(file("${path.module}/../../catalog/monitors.json")).monitors

  # CloudWatch statistic → Datadog aggregation (a percentile is its own metric, e.g. aws.apigateway.latency.p99).
  aggregation = { Maximum = "max", Minimum = "min", Sum = "sum", Average = "avg", SampleCount = "sum" }
  comparator = {
    GreaterThanThreshold          = ">"
    GreaterThanOrEqualToThreshold = ">="
    LessThanThreshold             = "<"
    LessThanOrEqualToThreshold    = "<="
  }
  priority = { critical = 1, warning = 3 }

  present = {
    for id, m in local.catalog : id => m
    if alltrue([for value in values(m.dimensions) : !startswith(value, "$") || lookup(var.resources, trimprefix(value, "$"), null) != null])
  }

  monitors = {
    for id, m in local.present : id => {
      threshold      = one([for k, v in m : v if startswith(k, "threshold_")])
      aggregation    = can(regex("^p[0-9]", m.statistic)) ? "max" : local.aggregation[m.statistic]
      window_minutes = m.period_seconds * m.evaluation_periods / 60
      # The AWS integration tags each metric with its CloudWatch dimensions; Datadog lower-cases tags and
      # turns characters outside [a-z0-9_.:/-] into "_" (an HTTP API's "$default" stage is stage:_default).
      scope = join(",", [for name, value in m.dimensions : lower("${name}:${replace(startswith(value, "$") ? lookup(var.resources, trimprefix(value, "$"), value) : value, "/[^A-Za-z0-9_.:\\/-]/", "_")}")])
      count = m.statistic == "Sum" ? ".as_count()" : ""
      m     = m
    }
  }

  rendered = {
    for id, d in local.monitors : id => {
      name   = "[${var.environment}] ${d.m.title}"
      head   = "${d.aggregation}(${d.window_minutes % 60 == 0 ? "last_${d.window_minutes / 60}h" : "last_${d.window_minutes}m"})"
      series = "${d.aggregation}:${d.m.datadog.metric}{${d.scope}}${d.count}"
      # A percentage: 100 x metric / denominator, like the CloudWatch alarm's metric math.
      denominator = lookup(d.m.datadog, "denominator_metric", null) == null ? null : "${d.aggregation}:${d.m.datadog.denominator_metric}{${d.scope}}${d.count}"
      comparator  = local.comparator[d.m.comparison]
      threshold   = d.threshold
      priority    = local.priority[d.m.severity]
      # A monitor whose silence is the failure (the report not running) must alert on no data.
      notify_no_data    = d.m.treat_missing_data == "breaching"
      no_data_timeframe = d.m.treat_missing_data == "breaching" ? d.window_minutes : null
      message = join("\n", compact([
        "${upper(d.m.severity)}: ${d.m.title}. ${d.m.description}",
        "Runbook: ${var.runbook_base_url}${d.m.runbook}",
        lookup(var.notify, d.m.severity, ""),
      ]))
      tags = ["service:telemetry-pipeline", "env:${var.environment}", "severity:${d.m.severity}", "monitor:${id}"]
    }
  }
}
