# Datadog monitors for the same catalog as the CloudWatch alarms (terraform/catalog/monitors.json), in a
# root module of their own: only the AWS provider is installed where the AWS roots run (docs/moto-gaps.md §The toolchain).
# Checked offline against the provider's schema (terraform/datadog/provider-schema.json) and every query
# parsed (tests/terraform/test_datadog.py). Keys come from DD_API_KEY / DD_APP_KEY, never from files.

provider "datadog" {
  api_url = var.datadog_api_url
}

module "definitions" {
  source = "./definitions"

  environment      = var.environment
  runbook_base_url = var.runbook_base_url
  resources        = var.resources
  notify           = var.notify
}

resource "datadog_monitor" "this" {
  for_each = module.definitions.monitors

  name     = each.value.name
  type     = "query alert"
  query    = each.value.query
  message  = each.value.message
  tags     = each.value.tags
  priority = each.value.priority

  monitor_thresholds {
    critical = each.value.threshold
  }

  # CloudWatch metrics reach Datadog minutes late: evaluate 15 minutes back, and do not wait for a full
  # window of sparse metrics (queues and throttles report only when non-zero).
  evaluation_delay    = 900
  require_full_window = false
  notify_no_data      = each.value.notify_no_data
  no_data_timeframe   = each.value.no_data_timeframe
  renotify_interval   = 60
  include_tags        = true
}
