output "monitors" {
  description = "Datadog monitor arguments by catalog id: name, query, message, tags, priority, threshold, notify_no_data, no_data_timeframe."
  value = {
    for id, r in local.rendered : id => {
      name              = r.name
      query             = r.denominator == null ? "${r.head}:${r.series} ${r.comparator} ${r.threshold}" : "${r.head}:100 * ${r.series} / ${r.denominator} ${r.comparator} ${r.threshold}"
      message           = r.message
      tags              = r.tags
      priority          = tostring(r.priority)
      threshold         = r.threshold
      notify_no_data    = r.notify_no_data
      no_data_timeframe = r.no_data_timeframe
    }
  }
}
