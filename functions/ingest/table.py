"""Readings into the telemetry table: one item per key, ≤25 per BatchWriteItem, retried while time is left.

DynamoDB may refuse part of a request (UnprocessedItems) or all of it (throttling); both are retried
with exponential backoff and full jitter until the Lambda's remaining time, less a safety margin, runs
out. What is still unwritten then is handed back by sequence number, so Lambda re-delivers it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from common.retry import SAFETY_MARGIN_MS, drive, retryable
from ingest.validate import Reading

BATCH_WRITE_MAX = 25  # items per BatchWriteItem (AWS limit, docs/aws-limits.md §DynamoDB; moto takes 26)
__all__ = ["BATCH_WRITE_MAX", "SAFETY_MARGIN_MS", "Write", "WriteOutcome", "plan", "to_item", "write"]

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
    out = WriteOutcome()

    def send(chunk: list[Key]) -> list[Key]:
        try:
            resp = ddb.batch_write_item(
                RequestItems={table_name: [{"PutRequest": {"Item": writes[k].item}} for k in chunk]}
            )
        except (ClientError, BotoCoreError) as exc:
            if retryable(exc):
                return chunk
            log.error(
                "BatchWriteItem failed and cannot be retried; its records go back to Lambda",
                error=str(exc),
                error_type=type(exc).__name__,
                items=len(chunk),
            )
            out.failed += [s for k in chunk for s in writes[k].sequence_numbers]
            return []
        left = {_key(r["PutRequest"]["Item"]) for r in resp.get("UnprocessedItems", {}).get(table_name, [])}
        out.written += [s for k in chunk if k not in left for s in writes[k].sequence_numbers]
        return [k for k in chunk if k in left]

    def on_retry(unwritten: list[Key], attempt: int, delay_ms: float) -> None:
        log.warning(
            "DynamoDB throttled or left items unprocessed; retrying",
            items=len(unwritten),
            attempt=attempt,
            delay_ms=round(delay_ms),
        )

    unwritten, attempts = drive(
        list(writes),
        send,
        chunk_size=BATCH_WRITE_MAX,
        remaining_ms=remaining_ms,
        counted=out,
        on_retry=on_retry,
        sleep=sleep,
        rng=rng,
    )
    if unwritten:
        log.error(
            "DynamoDB still refused items when time ran out; their records go back to Lambda",
            items=len(unwritten),
            attempts=attempts,
        )
        out.failed += [s for k in unwritten for s in writes[k].sequence_numbers]
    return out
