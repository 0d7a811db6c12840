"""The local Lambda runtime: in-process invocations and the event source mapping pollers (Kinesis, SQS)."""
