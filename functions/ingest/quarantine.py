"""Poison records set aside in S3, one object per record at a key only that record can have.

The key (docs/architecture.md) is `{prefix}dt={arrival day, UTC}/{shard_id}/{sequence_number}.json`, so a
re-delivered poison record overwrites its own object instead of adding a second one."""

from __future__ import annotations

import datetime as dt
import json

from botocore.exceptions import BotoCoreError, ClientError

from ingest.validate import Rejection


def object_key(prefix: str, record: dict) -> str:
    kinesis = record["kinesis"]
    day = dt.datetime.fromtimestamp(float(kinesis["approximateArrivalTimestamp"]), dt.UTC).strftime("%Y-%m-%d")
    return f"{prefix}dt={day}/{shard_id(record)}/{kinesis['sequenceNumber']}.json"


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


def put(s3, bucket: str, prefix: str, record: dict, rejection: Rejection, context, log) -> bool:
    """Stores the poison record and logs it; False if S3 refused it (the record must then go back to Lambda)."""
    seq = record["kinesis"]["sequenceNumber"]
    log.error(
        "poison record quarantined",
        reason_code=rejection.reason_code,
        reason=rejection.reason,
        shard_id=shard_id(record),
        sequence_number=seq,
        partition_key=record["kinesis"].get("partitionKey"),
    )
    try:
        s3.put_object(
            Bucket=bucket,
            Key=object_key(prefix, record),
            ContentType="application/json",
            Body=json.dumps(body(record, rejection, context), separators=(",", ":")).encode(),
        )
        return True
    except (ClientError, BotoCoreError) as exc:
        log.error(
            "quarantine write failed; the record goes back to Lambda",
            error=str(exc),
            error_type=type(exc).__name__,
            shard_id=shard_id(record),
            sequence_number=seq,
        )
        return False
