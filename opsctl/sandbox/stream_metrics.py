"""The AWS/Kinesis stream metrics Kinesis publishes, computed from the requests the sandbox's moto server served.

Names, units and what one datum means follow the Kinesis developer guide, "Monitoring the Amazon Kinesis Data
Streams service with Amazon CloudWatch" (https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html),
stream-level ("basic") metrics, dimension StreamName. One sample per request, into the minute's statistic set
(opsctl.sandbox.cw_metrics), so every CloudWatch statistic means what AWS says it means: Sum of IncomingRecords
is the records put, Average of PutRecords.Success the share of calls that put something, Maximum of
GetRecords.IteratorAgeMilliseconds the oldest last-record of any read.

- PutRecord: PutRecord.Success (1, or 0 when refused), PutRecord.Bytes, PutRecord.Latency, IncomingRecords,
  IncomingBytes, WriteProvisionedThroughputExceeded (records refused: 0 or 1).
- PutRecords: PutRecords.Success (1 if at least one record was put), PutRecords.TotalRecords,
  PutRecords.SuccessfulRecords, PutRecords.ThrottledRecords, PutRecords.FailedRecords (internal failures: the
  sandbox has none, so 0), PutRecords.Bytes, PutRecords.Latency, IncomingRecords, IncomingBytes,
  WriteProvisionedThroughputExceeded (the call's throttled records).
- GetRecords: GetRecords.Success, GetRecords.Records, GetRecords.Bytes, GetRecords.Latency,
  GetRecords.IteratorAgeMilliseconds (now minus the arrival of the call's last record; 0 when the call returned
  nothing, i.e. the reader is at the shard's tip), ReadProvisionedThroughputExceeded (1 for a refused call, else 0).

Bytes are data plus partition key, as the shard quotas count them. Latency is the time the server took to serve the
call, in milliseconds. Refusals are published with value 0 on served calls too, so an alarm on them judges real
data ("OK") instead of "no data" while the stream has traffic."""

from __future__ import annotations

import time

NAMESPACE = "AWS/Kinesis"


def record(stream, metric: str, value: float, unit: str) -> None:
    """One datum of `metric` for `stream` (a moto Stream), into the CloudWatch of the stream's account and Region."""
    _publish(stream.account_id, stream.region, metric, {"StreamName": stream.stream_name}, value, unit)


def _publish(account_id: str, region: str, metric: str, dimensions: dict[str, str], value: float, unit: str) -> None:
    from opsctl.sandbox import cw_metrics

    cw_metrics.record(NAMESPACE, metric, dimensions, value, unit, account_id=account_id, region=region)


def put_record_served(stream, *, size: int, accepted: bool, latency_ms: float) -> None:
    record(stream, "PutRecord.Success", int(accepted), "Count")
    record(stream, "WriteProvisionedThroughputExceeded", int(not accepted), "Count")
    if accepted:
        record(stream, "PutRecord.Bytes", size, "Bytes")
        record(stream, "PutRecord.Latency", latency_ms, "Milliseconds")
        record(stream, "IncomingRecords", 1, "Count")
        record(stream, "IncomingBytes", size, "Bytes")


def put_records_served(stream, *, total: int, accepted: int, accepted_bytes: int, latency_ms: float) -> None:
    throttled = total - accepted
    record(stream, "PutRecords.Success", int(accepted > 0), "Count")
    record(stream, "PutRecords.TotalRecords", total, "Count")
    record(stream, "PutRecords.SuccessfulRecords", accepted, "Count")
    record(stream, "PutRecords.ThrottledRecords", throttled, "Count")
    record(stream, "PutRecords.FailedRecords", 0, "Count")
    record(stream, "WriteProvisionedThroughputExceeded", throttled, "Count")
    record(stream, "PutRecords.Latency", latency_ms, "Milliseconds")
    if accepted:
        record(stream, "PutRecords.Bytes", accepted_bytes, "Bytes")
        record(stream, "IncomingRecords", accepted, "Count")
        record(stream, "IncomingBytes", accepted_bytes, "Bytes")


def get_records_served(
    stream, *, records: int, size: int, last_arrival: float | None, latency_ms: float, now: float | None = None
) -> None:
    now = time.time() if now is None else now
    age_ms = 0.0 if last_arrival is None else max(0.0, (now - last_arrival) * 1000)
    record(stream, "GetRecords.Success", 1, "Count")
    record(stream, "GetRecords.Records", records, "Count")
    record(stream, "GetRecords.Bytes", size, "Bytes")
    record(stream, "GetRecords.Latency", latency_ms, "Milliseconds")
    record(stream, "GetRecords.IteratorAgeMilliseconds", round(age_ms, 3), "Milliseconds")
    record(stream, "ReadProvisionedThroughputExceeded", 0, "Count")


def get_records_refused(stream) -> None:
    record(stream, "ReadProvisionedThroughputExceeded", 1, "Count")
