"""The ingest function: Kinesis device readings → telemetry table, poison records → S3 quarantine."""
