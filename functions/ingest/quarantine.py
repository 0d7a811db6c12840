"""Poison records set aside in S3: one object per batch's poison, at a key only that set of records can have.

The key (docs/architecture.md) is `{prefix}dt={arrival day of the first, UTC}/{shard_id}/{first_seq}-{last_seq}.jsonl`
(a Kinesis batch comes from one shard), one JSON line per record, so a re-delivered batch overwrites its own
object instead of adding a second one. One object and one log line per batch, not per record: a device sending
1,000 bad records a second on a shard was 86 M PUTs and 86 M ERROR lines (alerts) a day; it is now one PUT
and one line per batch (at most ~1 a second per shard and parallelisation slot)."""

from __future__ import annotations

import datetime as dt
import json

from botocore.exceptions import BotoCoreError, ClientError

from ingest.validate import Rejection


def shard_id(record: dict) -> str:
    return record["eventID"].split(":")[0]


def body(record: dict, rejection: Rejection, context) -> dict:
    kinesis = record["kinesis"]
    return {
        "reason_code": rejection.reason_code,
        "reason": rejection.reason,
        "shard_id": shard_id(record),
        "sequence_number": kinesis["sequenceNumber"],
        "partition_key": kinesis.get("partitionKey"),
        "approximate_arrival_timestamp": kinesis.get("approximateArrivalTimestamp"),
        "event_source_arn": record.get("eventSourceARN"),
        "data_base64": kinesis.get("data"),
        "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "aws_request_id": getattr(context, "aws_request_id", None),
        "function_name": getattr(context, "function_name", None),
    }


def batch_key(prefix: str, poison: list[tuple[dict, Rejection]]) -> str:
    first, last = poison[0][0], poison[-1][0]
    day = dt.datetime.fromtimestamp(float(first["kinesis"]["approximateArrivalTimestamp"]), dt.UTC).strftime("%Y-%m-%d")
    seq_first, seq_last = first["kinesis"]["sequenceNumber"], last["kinesis"]["sequenceNumber"]
    return f"{prefix}dt={day}/{shard_id(first)}/{seq_first}-{seq_last}.jsonl"


def put_batch(s3, bucket: str, prefix: str, poison: list[tuple[dict, Rejection]], context, log) -> bool:
    """Stores a batch's poison records in one object and logs one line with counts by reason; False if S3 refused
    it (every one of them must then go back to Lambda, which re-delivers them)."""
    if not poison:
        return True
    poison = sorted(poison, key=lambda p: int(p[0]["kinesis"]["sequenceNumber"]))
    key = batch_key(prefix, poison)
    reasons: dict[str, int] = {}
    for _, rejection in poison:
        reasons[rejection.reason_code] = reasons.get(rejection.reason_code, 0) + 1
    first_seq, last_seq = poison[0][0]["kinesis"]["sequenceNumber"], poison[-1][0]["kinesis"]["sequenceNumber"]
    log.error(
        "poison records quarantined",
        records=len(poison),
        reasons=dict(sorted(reasons.items())),
        shard_id=shard_id(poison[0][0]),
        first_sequence_number=first_seq,
        last_sequence_number=last_seq,
        object_key=key,
    )
    lines = "".join(json.dumps(body(r, rej, context), separators=(",", ":")) + "\n" for r, rej in poison)
    try:
        s3.put_object(Bucket=bucket, Key=key, ContentType="application/x-ndjson", Body=lines.encode())
        return True
    except (ClientError, BotoCoreError) as exc:
        log.error(
            "quarantine write failed; the batch's poison records go back to Lambda",
            error=str(exc),
            error_type=type(exc).__name__,
            records=len(poison),
            object_key=key,
        )
        return False
