"""The read API (API Gateway HTTP API, payload 2.0) over the telemetry table."""
