"""What landed where: readings in the table, records in the quarantine, batches on the failure queue.

Plain data out, for `opsctl sandbox inspect`, the demo and the end-to-end tests."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer

from opsctl.stack import Stack

_deserializer = TypeDeserializer()


def _plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def table_items(stack: Stack) -> list[dict]:
    """Every item of the telemetry table (sandbox-sized tables only: this is a full Scan)."""
    ddb = stack.target.client("dynamodb")
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=stack.get("table_name")):
        items.extend({k: _plain(_deserializer.deserialize(v)) for k, v in item.items()} for item in page["Items"])
    return items


def latest_readings(stack: Stack, device_id: str, limit: int = 3) -> list[dict]:
    """The newest `limit` readings of one device, newest first (one Query)."""
    ddb = stack.target.client("dynamodb")
    resp = ddb.query(TableName=stack.get("table_name"), KeyConditionExpression="device_id = :d",
                     ExpressionAttributeValues={":d": {"S": device_id}}, ScanIndexForward=False, Limit=limit)
    return [{k: _plain(_deserializer.deserialize(v)) for k, v in item.items()} for item in resp["Items"]]


def quarantined(stack: Stack) -> list[dict]:
    """Every quarantined record with its key (sandbox-sized: reads them all)."""
    from opsctl import quarantine

    return quarantine.list_records(stack, limit=10**9).records


def queue_depth(stack: Stack, url_output: str) -> dict:
    """Visible and in-flight messages of the queue named by output `url_output`."""
    attrs = stack.target.client("sqs").get_queue_attributes(
        QueueUrl=stack.get(url_output),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {"visible": int(attrs["ApproximateNumberOfMessages"]), "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"])}


def summary(stack: Stack, sample_devices: int = 1) -> dict:
    """Counts and samples of what landed, as one JSON-able document."""
    items = table_items(stack)
    poison = quarantined(stack)
    devices = sorted({i["device_id"] for i in items})
    return {
        "table": {"name": stack.get("table_name"), "items": len(items), "devices": len(devices),
                  "sample": [r for d in devices[:sample_devices] for r in latest_readings(stack, d)]},
        "quarantine": {"bucket": stack.get("quarantine_bucket"), "records": len(poison),
                       "by_reason": dict(sorted(Counter(p.get("reason_code", "?") for p in poison).items())),
                       "sample": [{k: p.get(k) for k in ("reason_code", "reason", "shard_id", "sequence_number")} for p in poison[:3]]},
        "ingest_failure_queue": queue_depth(stack, "ingest_failure_queue_url"),
    }
