"""Readings into the telemetry table: one item per key, ≤25 per BatchWriteItem, retried while time is left.

DynamoDB may refuse part of a request (UnprocessedItems) or all of it (throttling); both are retried
with exponential backoff and full jitter until the Lambda's remaining time, less a safety margin, runs
out. What is still unwritten then is handed back by sequence number, so Lambda re-delivers it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from ingest.validate import Reading

BATCH_WRITE_MAX = 25  # items per BatchWriteItem (AWS limit; moto takes 26)
RETRYABLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"}
)
BACKOFF_BASE_MS = 50
BACKOFF_CAP_MS = 2_000
SAFETY_MARGIN_MS = 1_000  # left for the quarantine, the report and Lambda itself after the last retry

Key = tuple[str, int]


class Write:
    """One item to put, and every record (sequence number) it stands for."""

    __slots__ = ("item", "last_sequence", "sequence_numbers")

    def __init__(self):
        self.item: dict = {}
        self.sequence_numbers: list[str] = []
        self.last_sequence = -1


class WriteOutcome:
    """What a write achieved, by sequence number, and what it cost."""

    __slots__ = ("failed", "requests", "retries", "written")

    def __init__(self):
        self.written: list[str] = []  # sequence numbers now safely in the table
        self.failed: list[str] = []  # sequence numbers to hand back to Lambda
        self.requests = 0
        self.retries = 0  # BatchWriteItem requests that re-sent something


def to_item(reading: Reading, ttl_days: int) -> dict:
    """The table item of a reading, in DynamoDB's wire format; expires_at is epoch seconds."""
    return {
        "device_id": {"S": reading.device_id},
        "ts": {"N": str(reading.ts)},
        "metrics": {"M": {name: {"N": str(value)} for name, value in reading.metrics.items()}},
        "expires_at": {"N": str(reading.ts // 1000 + ttl_days * 86_400)},
    }


def plan(readings: list[tuple[str, Reading]], ttl_days: int) -> dict[Key, Write]:
    """One Write per (device_id, ts): the record with the highest sequence number wins, all are covered."""
    writes: dict[Key, Write] = {}
    for seq, reading in readings:
        key = (reading.device_id, reading.ts)
        w = writes.get(key)
        if w is None:
            w = writes[key] = Write()
        w.sequence_numbers.append(seq)
        if int(seq) > w.last_sequence:
            w.item, w.last_sequence = to_item(reading, ttl_days), int(seq)
    return writes


def _key(item: dict) -> Key:
    return item["device_id"]["S"], int(item["ts"]["N"])


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in RETRYABLE_CODES
    return isinstance(exc, (ConnectionError, HTTPClientError))


def write(
    ddb,
    table_name: str,
    writes: dict[Key, Write],
    *,
    remaining_ms: Callable[[], int],
    log,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> WriteOutcome:
    """Puts every Write, retrying what DynamoDB did not take; never raises for an AWS error."""
    rng = rng or random.Random()
    out = WriteOutcome()
    pending = list(writes)
    attempt = 0
    while pending:
        unwritten: list[Key] = []
        for start in range(0, len(pending), BATCH_WRITE_MAX):
            chunk = pending[start : start + BATCH_WRITE_MAX]
            out.requests += 1
            out.retries += attempt > 0
            try:
                resp = ddb.batch_write_item(
                    RequestItems={table_name: [{"PutRequest": {"Item": writes[k].item}} for k in chunk]}
                )
            except (ClientError, BotoCoreError) as exc:
                if _retryable(exc):
                    unwritten += chunk
                    continue
                log.error(
                    "BatchWriteItem failed and cannot be retried; its records go back to Lambda",
                    error=str(exc),
                    error_type=type(exc).__name__,
                    items=len(chunk),
                )
                out.failed += [s for k in chunk for s in writes[k].sequence_numbers]
                continue
            left = {_key(r["PutRequest"]["Item"]) for r in resp.get("UnprocessedItems", {}).get(table_name, [])}
            unwritten += [k for k in chunk if k in left]
            out.written += [s for k in chunk if k not in left for s in writes[k].sequence_numbers]
        if not unwritten:
            break
        delay_ms = rng.uniform(0, min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2**attempt))
        if remaining_ms() - SAFETY_MARGIN_MS <= delay_ms:
            log.error(
                "DynamoDB still refused items when time ran out; their records go back to Lambda",
                items=len(unwritten),
                attempts=attempt + 1,
            )
            out.failed += [s for k in unwritten for s in writes[k].sequence_numbers]
            break
        log.warning(
            "DynamoDB throttled or left items unprocessed; retrying",
            items=len(unwritten),
            attempt=attempt + 1,
            delay_ms=round(delay_ms),
        )
        sleep(delay_ms / 1000)
        pending, attempt = unwritten, attempt + 1
    return out
