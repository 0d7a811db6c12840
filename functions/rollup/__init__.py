"""Hourly rollups of device readings: the job format, the aggregate, the rollups table, the SQS worker."""
