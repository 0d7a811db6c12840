"""Service limits AWS enforces and moto does not, in one place: each is a number with its unit and the
AWS documentation it comes from, and a check that returns the error AWS would give (None when within).

Lambda (Lambda developer guide, "Lambda quotas"): 6 MB for a synchronous (RequestResponse) invocation's
request and response, 256 KB for an asynchronous (Event) invocation's event. Event source mappings and API
Gateway invoke synchronously; EventBridge Scheduler invokes asynchronously. Sizes are of the JSON as sent."""

from __future__ import annotations

import json

SYNC_PAYLOAD_MAX_BYTES = 6 * 1024 * 1024  # bytes (6 MB = 6,291,456): a synchronous request, and every response
ASYNC_EVENT_MAX_BYTES = 256 * 1024  # bytes (256 KB = 262,144): an asynchronous invocation's event


def lambda_response_error(body: str) -> tuple[str, str] | None:
    """(errorType, errorMessage) Lambda returns instead of a response over 6 MB, else None."""
    size = len(body.encode())
    if size <= SYNC_PAYLOAD_MAX_BYTES:
        return None
    return (
        "Function.ResponseSizeTooLarge",
        f"Response payload size ({size} bytes) exceeded maximum allowed payload size ({SYNC_PAYLOAD_MAX_BYTES} bytes).",
    )


def lambda_request_error(event: object, *, asynchronous: bool = False) -> tuple[str, str] | None:
    """(error code, message) Lambda's Invoke refuses an event over its invocation type's limit with, else None."""
    limit = ASYNC_EVENT_MAX_BYTES if asynchronous else SYNC_PAYLOAD_MAX_BYTES
    try:
        size = len(json.dumps(event).encode())
    except (TypeError, ValueError):
        return None
    if size <= limit:
        return None
    return (
        "RequestEntityTooLargeException",
        f"{size} byte payload is too large for the {'Event' if asynchronous else 'RequestResponse'} invocation "
        f"type (limit {limit} bytes)",
    )


# Kinesis Data Streams (developer guide, "Quotas and limits"): each shard takes writes of up to 1 MiB per second
# (data plus partition key) and 1,000 records per second; a record over either is refused on its own, in
# PutRecords as an entry with ErrorCode ProvisionedThroughputExceededException, in PutRecord as that error.
SHARD_WRITE_BYTES_PER_S = 1024 * 1024  # bytes per second per shard (1 MiB)
SHARD_WRITE_RECORDS_PER_S = 1000  # records per second per shard
SHARD_WINDOW_S = 1.0  # rolling window over which both are counted (seconds)


class ShardWriteWindow:
    """What one shard accepted in the last SHARD_WINDOW_S seconds: a record fits if both sums stay within."""

    __slots__ = ("bytes", "entries")

    def __init__(self):
        from collections import deque

        self.entries = deque()  # (monotonic time, bytes)
        self.bytes = 0

    def admit(self, size: int, now: float) -> bool:
        entries = self.entries
        while entries and now - entries[0][0] >= SHARD_WINDOW_S:
            self.bytes -= entries.popleft()[1]
        if len(entries) + 1 > SHARD_WRITE_RECORDS_PER_S or self.bytes + size > SHARD_WRITE_BYTES_PER_S:
            return False
        entries.append((now, size))
        self.bytes += size
        return True


class KinesisWriteLimits:
    """Per-shard write windows, and how many records each stream refused (the stream's
    WriteProvisionedThroughputExceeded count, kept for CloudWatch metrics)."""

    def __init__(self, clock=None):
        import threading
        import time

        self.clock = clock or time.monotonic
        self.windows: dict[tuple[str, str], ShardWriteWindow] = {}
        self.refused: dict[str, int] = {}  # stream ARN -> records refused since the server started
        self.lock = threading.Lock()

    def admit(self, stream_arn: str, shard_id: str, size: int) -> bool:
        with self.lock:
            window = self.windows.get((stream_arn, shard_id))
            if window is None:
                window = self.windows[(stream_arn, shard_id)] = ShardWriteWindow()
            if window.admit(size, self.clock()):
                return True
            self.refused[stream_arn] = self.refused.get(stream_arn, 0) + 1
            return False


KINESIS_WRITES = KinesisWriteLimits()


def _throughput_message(stream, shard_id: str) -> str:
    return f"Rate exceeded for shard {shard_id} in stream {stream.stream_name} under account {stream.account_id}."


def install_kinesis_limits(limits: KinesisWriteLimits = KINESIS_WRITES) -> None:
    """Patches moto's Kinesis (once per process): PutRecord(s) refuse records over a shard's write throughput."""
    from base64 import b64decode

    from moto.core.exceptions import JsonRESTError
    from moto.kinesis import exceptions as kx
    from moto.kinesis.models import KinesisBackend

    if getattr(KinesisBackend, "_sandbox_shard_limits", False):
        return

    def put_record(self, stream_arn, stream_name, partition_key, explicit_hash_key, data):
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        shard = stream.get_shard_for_key(partition_key, explicit_hash_key)
        if not limits.admit(stream.arn, shard.shard_id, len(b64decode(data)) + len(partition_key)):
            raise JsonRESTError("ProvisionedThroughputExceededException", _throughput_message(stream, shard.shard_id))
        sequence_number = shard.put_record(partition_key, data, explicit_hash_key)
        self._send_stream_metrics(
            stream.stream_name, incoming_bytes=len(b64decode(data)) + len(partition_key), incoming_records=1
        )
        return sequence_number, shard.shard_id

    def put_records(self, stream_arn, stream_name, records):
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        if len(records) > 500:
            raise kx.TooManyRecords
        sizes = [len(b64decode(r.get("Data", ""))) + len(r.get("PartitionKey", "")) for r in records]
        if sum(sizes) > 5 * 1024 * 1024:
            raise kx.TotalRecordsSizeExceedsLimit
        over = next((i for i, n in enumerate(sizes) if n > 1024 * 1024), None)
        if over is not None:
            raise kx.RecordSizeExceedsLimit(position=over + 1)
        response = {"FailedRecordCount": 0, "Records": []}
        accepted_bytes = accepted = 0
        for record, size in zip(records, sizes, strict=True):
            partition_key, explicit_hash_key = record.get("PartitionKey"), record.get("ExplicitHashKey")
            shard = stream.get_shard_for_key(partition_key, explicit_hash_key)
            if not limits.admit(stream.arn, shard.shard_id, size):
                response["FailedRecordCount"] += 1
                response["Records"].append(
                    {
                        "ErrorCode": "ProvisionedThroughputExceededException",
                        "ErrorMessage": _throughput_message(stream, shard.shard_id),
                    }
                )
                continue
            sequence_number = shard.put_record(partition_key, record.get("Data"), explicit_hash_key)
            response["Records"].append({"SequenceNumber": sequence_number, "ShardId": shard.shard_id})
            accepted, accepted_bytes = accepted + 1, accepted_bytes + size
        if accepted:
            self._send_stream_metrics(stream.stream_name, incoming_bytes=accepted_bytes, incoming_records=accepted)
        return response

    KinesisBackend.put_record = put_record
    KinesisBackend.put_records = put_records
    KinesisBackend._sandbox_shard_limits = True


def install() -> None:
    """Every limit of this module that the moto server enforces (called by opsctl.sandbox.moto_main)."""
    install_kinesis_limits()
