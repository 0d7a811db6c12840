"""The poison-record quarantine the ingest function writes to S3."""
