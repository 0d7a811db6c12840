"""Service limits AWS enforces and moto does not, in one place: each is a number with its unit and the
AWS documentation it comes from, and a check that returns the error AWS would give (None when within).

Lambda (Lambda developer guide, "Lambda quotas"): 6 MB for a synchronous (RequestResponse) invocation's
request and response, 256 KB for an asynchronous (Event) invocation's event. Event source mappings and API
Gateway invoke synchronously; EventBridge Scheduler invokes asynchronously. Sizes are of the JSON as sent."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

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

        self.entries: deque[tuple[float, int]] = deque()  # (monotonic time, bytes)
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

# Kinesis Data Streams (developer guide, "Quotas and limits"): each shard serves up to 5 GetRecords transactions per
# second and up to 2 MiB per second of reads; a call over either fails with ProvisionedThroughputExceededException.
# A read counts against the byte rate for as long as the shard takes to serve it at 2 MiB/s ("if a call returns
# 10 MiB, subsequent calls made within the next 5 seconds throw an exception"), at least for one second.
SHARD_READ_TRANSACTIONS_PER_S = 5  # GetRecords calls per second per shard
SHARD_READ_BYTES_PER_S = 2 * 1024 * 1024  # bytes per second per shard (2 MiB)


class ShardReadWindow:
    """What one shard served lately: a GetRecords call is admitted if the shard has served fewer than 5 calls in
    the last second and the reads still being paid for add up to less than 2 MiB."""

    __slots__ = ("calls", "reads")

    def __init__(self):
        from collections import deque

        self.calls: deque[float] = deque()  # monotonic times of admitted calls in the last second
        self.reads: deque[tuple[float, int]] = deque()  # (monotonic time the read is paid for, bytes)

    def admit(self, now: float) -> bool:
        while self.calls and now - self.calls[0] >= SHARD_WINDOW_S:
            self.calls.popleft()
        self.reads = type(self.reads)(r for r in self.reads if r[0] > now)
        if len(self.calls) >= SHARD_READ_TRANSACTIONS_PER_S or sum(b for _, b in self.reads) >= SHARD_READ_BYTES_PER_S:
            return False
        self.calls.append(now)
        return True

    def served(self, size: int, now: float) -> None:
        if size:
            self.reads.append((now + max(SHARD_WINDOW_S, size / SHARD_READ_BYTES_PER_S), size))


class KinesisReadLimits:
    """Per-shard read windows, and how many GetRecords calls each stream refused since the server started."""

    def __init__(self, clock=None):
        import threading
        import time

        self.clock = clock or time.monotonic
        self.windows: dict[tuple[str, str], ShardReadWindow] = {}
        self.refused: dict[str, int] = {}
        self.lock = threading.Lock()

    def _window(self, stream_arn: str, shard_id: str) -> ShardReadWindow:
        window = self.windows.get((stream_arn, shard_id))
        if window is None:
            window = self.windows[(stream_arn, shard_id)] = ShardReadWindow()
        return window

    def admit(self, stream_arn: str, shard_id: str) -> bool:
        with self.lock:
            if self._window(stream_arn, shard_id).admit(self.clock()):
                return True
            self.refused[stream_arn] = self.refused.get(stream_arn, 0) + 1
            return False

    def served(self, stream_arn: str, shard_id: str, size: int) -> None:
        with self.lock:
            self._window(stream_arn, shard_id).served(size, self.clock())


KINESIS_READS = KinesisReadLimits()


def _throughput_message(stream, shard_id: str) -> str:
    return f"Rate exceeded for shard {shard_id} in stream {stream.stream_name} under account {stream.account_id}."


def install_kinesis_limits(
    limits: KinesisWriteLimits = KINESIS_WRITES, reads: KinesisReadLimits = KINESIS_READS
) -> None:
    """Patches moto's Kinesis (once per process): PutRecord(s) refuse records over a shard's write throughput,
    GetRecords calls over its read throughput, and each call publishes the AWS/Kinesis stream metrics
    (opsctl.sandbox.stream_metrics) in place of moto's own IncomingBytes/IncomingRecords."""
    import time
    from base64 import b64decode

    from moto.core.exceptions import JsonRESTError
    from moto.kinesis import exceptions as kx
    from moto.kinesis.models import KinesisBackend
    from moto.kinesis.utils import decompose_shard_iterator

    from opsctl.sandbox import stream_metrics

    if getattr(KinesisBackend, "_sandbox_shard_limits", False):
        return
    original_get_records = KinesisBackend.get_records

    def put_record(self, stream_arn, stream_name, partition_key, explicit_hash_key, data):
        started = time.perf_counter()
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        shard = stream.get_shard_for_key(partition_key, explicit_hash_key)
        size = len(b64decode(data)) + len(partition_key)
        if not limits.admit(stream.arn, shard.shard_id, size):
            stream_metrics.put_record_served(stream, size=size, accepted=False, latency_ms=0)
            raise JsonRESTError("ProvisionedThroughputExceededException", _throughput_message(stream, shard.shard_id))
        sequence_number = shard.put_record(partition_key, data, explicit_hash_key)
        stream_metrics.put_record_served(
            stream, size=size, accepted=True, latency_ms=(time.perf_counter() - started) * 1000
        )
        return sequence_number, shard.shard_id

    def put_records(self, stream_arn, stream_name, records):
        started = time.perf_counter()
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        if len(records) > 500:
            raise kx.TooManyRecords
        sizes = [len(b64decode(r.get("Data", ""))) + len(r.get("PartitionKey", "")) for r in records]
        if sum(sizes) > 5 * 1024 * 1024:
            raise kx.TotalRecordsSizeExceedsLimit
        over = next((i for i, n in enumerate(sizes) if n > 1024 * 1024), None)
        if over is not None:
            raise kx.RecordSizeExceedsLimit(position=over + 1)
        response: dict[str, Any] = {"FailedRecordCount": 0, "Records": []}
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
        stream_metrics.put_records_served(
            stream,
            total=len(records),
            accepted=accepted,
            accepted_bytes=accepted_bytes,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        return response

    def get_records(self, stream_arn, shard_iterator, limit):
        started = time.perf_counter()
        stream_name, shard_id, _ = decompose_shard_iterator(shard_iterator)
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        if not reads.admit(stream.arn, shard_id):
            stream_metrics.get_records_refused(stream)
            raise JsonRESTError("ProvisionedThroughputExceededException", _throughput_message(stream, shard_id))
        next_iterator, served, millis_behind = original_get_records(self, stream_arn, shard_iterator, limit)
        size = sum(len(b64decode(r.data)) + len(r.partition_key) for r in served)
        reads.served(stream.arn, shard_id, size)
        stream_metrics.get_records_served(
            stream,
            records=len(served),
            size=size,
            last_arrival=served[-1].created_at if served else None,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        return next_iterator, served, millis_behind

    KinesisBackend.put_record = put_record
    KinesisBackend.put_records = put_records
    KinesisBackend.get_records = get_records
    KinesisBackend._sandbox_shard_limits = True


# DynamoDB (developer guide, "Quotas" and "Data types"): BatchWriteItem takes at most 25 put or delete requests;
# a number has at most 38 significant digits and a magnitude from 1E-130 to 9.9999999999999999999999999999999999999E+125
# (moto refuses the underflow and an item over 400 KB itself; not the batch count, the overflow or the precision).
BATCH_WRITE_MAX_REQUESTS = 25  # requests per BatchWriteItem call
NUMBER_MAX_DIGITS = 38  # significant digits of a DynamoDB number
NUMBER_MAX_MAGNITUDE = Decimal("9.9999999999999999999999999999999999999E+125")


def dynamodb_number_error(text: str) -> str | None:
    """DynamoDB's ValidationException message for a number it cannot store, else None."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        return None  # not a number at all: DynamoDB's own (and moto's) parser says so
    if not value.is_finite():
        return None
    # Exact arithmetic only: abs() and normalize() would round to the context's 28 digits.
    digits = "".join(map(str, value.as_tuple().digits)).strip("0")
    if len(digits) > NUMBER_MAX_DIGITS:
        return "Attempting to store more than 38 significant digits in a Number"
    if value.copy_abs() > NUMBER_MAX_MAGNITUDE:
        return "Number overflow. Attempting to store a number with magnitude larger than supported range"
    return None


def _numbers(value):
    """Every N (and NS member) inside one attribute value, nested maps and lists included."""
    if not isinstance(value, dict):
        return
    for kind, inner in value.items():
        if kind == "N":
            yield inner
        elif kind == "NS" and isinstance(inner, list):
            yield from inner
        elif kind == "M" and isinstance(inner, dict):
            for v in inner.values():
                yield from _numbers(v)
        elif kind == "L" and isinstance(inner, list):
            for v in inner:
                yield from _numbers(v)


def _attribute_values(body: dict):
    for v in (body.get("Item") or {}).values():
        yield v
    for v in (body.get("ExpressionAttributeValues") or {}).values():
        yield v
    for requests in (body.get("RequestItems") or {}).values():
        for request in requests if isinstance(requests, list) else []:
            for v in ((request.get("PutRequest") or {}).get("Item") or {}).values():
                yield v


def install_dynamodb_limits() -> None:
    """Patches moto's DynamoDB handler: BatchWriteItem over 25 requests and numbers DynamoDB cannot hold are
    refused with DynamoDB's ValidationException."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_sandbox_limits", False):
        return

    def checked(original, count_batch: bool):
        def method(self):
            body = self.body
            if count_batch:
                count = sum(len(r) for r in (body.get("RequestItems") or {}).values())
                if count > BATCH_WRITE_MAX_REQUESTS:
                    raise MockValidationException(
                        "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: "
                        "Map value must satisfy constraint: [Member must have length less than or equal to 25, "
                        "Member must have length greater than or equal to 1]"
                    )
            for value in _attribute_values(body):
                for number in _numbers(value):
                    error = dynamodb_number_error(number)
                    if error:
                        raise MockValidationException(error)
            return original(self)

        return method

    DynamoHandler.batch_write_item = checked(DynamoHandler.batch_write_item, True)
    DynamoHandler.put_item = checked(DynamoHandler.put_item, False)
    DynamoHandler.update_item = checked(DynamoHandler.update_item, False)
    DynamoHandler._sandbox_limits = True


# SQS (developer guide, "Amazon SQS message quotas"): a message (body plus attribute names, types and values,
# UTF-8 bytes) may be at most the queue's MaximumMessageSize; a SendMessageBatch at most 10 entries (moto
# refuses more) and, here, at most 262,144 bytes in all (256 KiB: AWS raised its quotas to 1 MiB in 2025; the
# sandbox keeps the stricter 256 KiB this project was designed for). moto compares characters, not bytes,
# leaves the attributes out and allows a batch 1 MiB.
SEND_BATCH_MAX_BYTES = 256 * 1024  # bytes, all entries of one SendMessageBatch together


def sqs_message_bytes(body: str, attributes: dict | None) -> int:
    """A message's size as SQS counts it: body and each attribute's name, data type and value, in bytes."""
    size = len((body or "").encode())
    for name, attr in (attributes or {}).items():
        size += len(name.encode()) + len(str(attr.get("DataType", "")).encode())
        value = attr.get("StringValue")
        if value is None:
            value = attr.get("BinaryValue") or b""
        size += len(value.encode() if isinstance(value, str) else value)
    return size


def install_sqs_limits() -> None:
    """Patches moto's SQS handler: message sizes in bytes (attributes included) and the batch's total."""
    from moto.sqs.exceptions import InvalidParameterValue, SQSException
    from moto.sqs.responses import SQSResponse

    if getattr(SQSResponse, "_sandbox_limits", False):
        return
    original_send, original_batch = SQSResponse.send_message, SQSResponse.send_message_batch

    def limit_of(self) -> int:
        return int(self.sqs_backend.get_queue(self._get_queue_name()).maximum_message_size)

    def too_long(limit: int) -> Exception:
        return InvalidParameterValue(
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
        )

    def send_message(self):
        limit = limit_of(self)
        if sqs_message_bytes(self._get_param("MessageBody"), self._get_param("MessageAttributes", {})) > limit:
            raise too_long(limit)
        return original_send(self)

    def send_message_batch(self):
        limit = limit_of(self)
        sizes = [
            sqs_message_bytes(e.get("MessageBody"), e.get("MessageAttributes")) for e in self._get_param("Entries", [])
        ]
        if sum(sizes) > SEND_BATCH_MAX_BYTES:
            raise SQSException(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {SEND_BATCH_MAX_BYTES} bytes. You have sent {sum(sizes)} bytes.",
            )
        if any(n > limit for n in sizes):
            raise too_long(limit)
        return original_batch(self)

    SQSResponse.send_message = send_message
    SQSResponse.send_message_batch = send_message_batch
    SQSResponse._sandbox_limits = True


def install() -> None:
    """Every limit of this module that the moto server enforces (called by opsctl.sandbox.moto_main)."""
    install_kinesis_limits()
    install_dynamodb_limits()
    install_sqs_limits()
