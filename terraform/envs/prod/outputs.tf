# The contract of docs/architecture.md: opsctl and the tests read these names.
# Generated from terraform/modules/pipeline/outputs.tf by `make tf-generate`: edit that file, not this one.

output "environment" {
  description = "Environment name."
  value       = module.pipeline.environment
}

output "region" {
  description = "AWS region of the stack."
  value       = module.pipeline.region
}

output "stream_name" {
  description = "Ingest Kinesis stream name."
  value       = module.pipeline.stream_name
}

output "stream_arn" {
  description = "Ingest Kinesis stream ARN."
  value       = module.pipeline.stream_arn
}

output "table_name" {
  description = "Readings table name."
  value       = module.pipeline.table_name
}

output "table_arn" {
  description = "Readings table ARN."
  value       = module.pipeline.table_arn
}

output "quarantine_bucket" {
  description = "Bucket of quarantined poison records."
  value       = module.pipeline.quarantine_bucket
}

output "quarantine_prefix" {
  description = "Key prefix of quarantined records."
  value       = module.pipeline.quarantine_prefix
}

output "ingest_function_name" {
  description = "Ingest Lambda function name."
  value       = module.pipeline.ingest_function_name
}

output "ingest_function_arn" {
  description = "Ingest Lambda function ARN."
  value       = module.pipeline.ingest_function_arn
}

output "ingest_log_group_name" {
  description = "Log group of the ingest function."
  value       = module.pipeline.ingest_log_group_name
}

output "ingest_failure_queue_url" {
  description = "URL of the ingest on-failure destination queue."
  value       = module.pipeline.ingest_failure_queue_url
}

output "ingest_failure_queue_arn" {
  description = "ARN of the ingest on-failure destination queue."
  value       = module.pipeline.ingest_failure_queue_arn
}

output "ingest_mapping_uuid" {
  description = "UUID of the ingest event source mapping."
  value       = module.pipeline.ingest_mapping_uuid
}

output "kms_key_arn" {
  description = "ARN of the customer-managed key."
  value       = module.pipeline.kms_key_arn
}

output "alerts_topic_arn" {
  description = "ARN of the alerts SNS topic (alarms, log alerts, capacity report summaries)."
  value       = module.pipeline.alerts_topic_arn
}

output "alert_stream_name" {
  description = "Kinesis stream of the functions' ERROR lines (log-alert pipeline)."
  value       = module.pipeline.alert_stream_name
}

output "alert_function_name" {
  description = "The log-alert function."
  value       = module.pipeline.alert_function_name
}

output "alert_failure_queue_url" {
  description = "URL of the log-alert consumer's on-failure queue."
  value       = module.pipeline.alert_failure_queue_url
}

output "alert_mapping_uuid" {
  description = "UUID of the alert stream's event source mapping."
  value       = module.pipeline.alert_mapping_uuid
}

output "rollup_queue_url" {
  description = "URL of the rollup job queue."
  value       = module.pipeline.rollup_queue_url
}

output "rollup_queue_arn" {
  description = "ARN of the rollup job queue."
  value       = module.pipeline.rollup_queue_arn
}

output "rollup_dlq_url" {
  description = "URL of the rollup dead-letter queue (also its RedrivePolicy's deadLetterTargetArn)."
  value       = module.pipeline.rollup_dlq_url
}

output "rollup_dlq_arn" {
  description = "ARN of the rollup dead-letter queue."
  value       = module.pipeline.rollup_dlq_arn
}

output "rollup_table_name" {
  description = "Rollups table name (device_id, hour_start)."
  value       = module.pipeline.rollup_table_name
}

output "rollup_table_arn" {
  description = "Rollups table ARN."
  value       = module.pipeline.rollup_table_arn
}

output "rollup_function_name" {
  description = "Rollup worker Lambda function name."
  value       = module.pipeline.rollup_function_name
}

output "rollup_mapping_uuid" {
  description = "UUID of the rollup queue's event source mapping."
  value       = module.pipeline.rollup_mapping_uuid
}

output "reports_bucket" {
  description = "Bucket of the capacity reports."
  value       = module.pipeline.reports_bucket
}

output "capacity_report_function_name" {
  description = "Name of the scheduled capacity report function."
  value       = module.pipeline.capacity_report_function_name
}

output "capacity_report_schedule_name" {
  description = "Name of the EventBridge Scheduler schedule of the capacity report (empty where the schedule is off)."
  value       = module.pipeline.capacity_report_schedule_name
}

output "capacity_report_dlq_url" {
  description = "URL of the capacity report schedule's dead-letter queue (empty where the schedule is off)."
  value       = module.pipeline.capacity_report_dlq_url
}

output "api_endpoint" {
  description = "Base URL of the read API."
  value       = module.pipeline.api_endpoint
}

output "api_id" {
  description = "Id of the read API (HTTP API)."
  value       = module.pipeline.api_id
}

output "api_stage_name" {
  description = "Stage of the read API (\"$default\": served at the endpoint's root)."
  value       = module.pipeline.api_stage_name
}

output "api_function_name" {
  description = "Name of the read API's Lambda function."
  value       = module.pipeline.api_function_name
}

output "api_log_group_name" {
  description = "Log group of the read API's JSON access logs."
  value       = module.pipeline.api_log_group_name
}

output "api_signing_key_arn" {
  description = "ARN of the KMS HMAC key that signs pagination cursors (an identifier, not key material)."
  value       = module.pipeline.api_signing_key_arn
}

output "iot_thing_type_name" {
  description = "IoT thing type of every device."
  value       = module.pipeline.iot_thing_type_name
}

output "iot_policy_name" {
  description = "IoT policy attached to every device certificate (policy variables bind it to its thing)."
  value       = module.pipeline.iot_policy_name
}

output "iot_topic_prefix" {
  description = "Devices publish to <iot_topic_prefix>/<tenant>/<device id>/telemetry."
  value       = module.pipeline.iot_topic_prefix
}

output "iot_rule_name" {
  description = "IoT topic rule that routes telemetry to the ingest stream."
  value       = module.pipeline.iot_rule_name
}

output "iot_error_queue_url" {
  description = "Queue of what the IoT rule could not deliver."
  value       = module.pipeline.iot_error_queue_url
}

output "device_registry_table_name" {
  description = "Device registry table (device -> tenant, status, certificate)."
  value       = module.pipeline.device_registry_table_name
}

output "device_registry_table_arn" {
  description = "ARN of the device registry table."
  value       = module.pipeline.device_registry_table_arn
}

output "device_registry_tenant_index_name" {
  description = "Index of the registry keyed by tenant."
  value       = module.pipeline.device_registry_tenant_index_name
}

output "api_user_pool_id" {
  description = "Cognito user pool of the read API's readers (empty where JWT auth is off)."
  value       = module.pipeline.api_user_pool_id
}

output "api_client_id" {
  description = "App client id of the read API (the JWT audience; an identifier, not a secret)."
  value       = module.pipeline.api_client_id
}
