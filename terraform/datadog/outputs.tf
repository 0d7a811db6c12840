output "monitor_ids" {
  description = "Datadog monitor id by catalog id."
  value       = { for id, m in datadog_monitor.this : id => m.id }
}
