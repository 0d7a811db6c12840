"""What landed where: readings in the table, records in the quarantine, batches on the failure queue, hourly
rollups in the rollups table and jobs on the rollup queue and its dead-letter queue.

Plain data out, for `opsctl sandbox inspect`, the demo and the end-to-end tests."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer

from opsctl.core.stack import Stack

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
    items: list[dict] = []
    for page in ddb.get_paginator("scan").paginate(TableName=stack.get("table_name")):
        items.extend({k: _plain(_deserializer.deserialize(v)) for k, v in item.items()} for item in page["Items"])
    return items


def latest_readings(stack: Stack, device_id: str, limit: int = 3) -> list[dict]:
    """The newest `limit` readings of one device, newest first (one Query)."""
    ddb = stack.target.client("dynamodb")
    resp = ddb.query(
        TableName=stack.get("table_name"),
        KeyConditionExpression="device_id = :d",
        ExpressionAttributeValues={":d": {"S": device_id}},
        ScanIndexForward=False,
        Limit=limit,
    )
    return [{k: _plain(_deserializer.deserialize(v)) for k, v in item.items()} for item in resp["Items"]]


def quarantined(stack: Stack) -> list[dict]:
    """Every quarantined record with its key (sandbox-sized: reads them all)."""
    from opsctl.quarantine import store as quarantine

    return quarantine.list_records(stack, limit=10**9).records


def queue_depth(stack: Stack, url_output: str) -> dict:
    """Visible and in-flight messages of the queue named by output `url_output`."""
    attrs = stack.target.client("sqs").get_queue_attributes(
        QueueUrl=stack.get(url_output),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {
        "visible": int(attrs["ApproximateNumberOfMessages"]),
        "in_flight": int(attrs["ApproximateNumberOfMessagesNotVisible"]),
    }


HOUR_MS = 3_600_000  # rollups are per UTC hour (functions/rollup/job.py)


def rollups(stack: Stack, device_id: str, from_ms: int, to_ms: int) -> list[dict]:
    """The device's hourly rollups for every hour overlapping [from_ms, to_ms] (epoch ms), oldest first: one
    Query (and its pages) on the rollups table; numbers are plain ints and floats."""
    if from_ms > to_ms:
        from opsctl.core.errors import InvalidArgument

        raise InvalidArgument(
            "{from_ms} is after {to_ms}",
            hint="give an earlier {from_ms} or a later {to_ms}",
            arguments=["from_ms", "to_ms"],
        )
    ddb = stack.target.client("dynamodb")
    args = {
        "TableName": stack.get("rollup_table_name"),
        "KeyConditionExpression": "device_id = :d AND hour_start BETWEEN :f AND :t",
        "ExpressionAttributeValues": {
            ":d": {"S": device_id},
            ":f": {"N": str(from_ms - from_ms % HOUR_MS)},
            ":t": {"N": str(to_ms)},
        },
    }
    out = []
    while True:
        page = ddb.query(**args)
        out += [{k: _plain(_deserializer.deserialize(v)) for k, v in item.items()} for item in page["Items"]]
        if not page.get("LastEvaluatedKey"):
            return out
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def rollup_count(stack: Stack) -> dict:
    """Rollups in the table and the devices they cover (sandbox-sized: a Scan of the keys)."""
    ddb = stack.target.client("dynamodb")
    keys = []
    for page in ddb.get_paginator("scan").paginate(
        TableName=stack.get("rollup_table_name"), ProjectionExpression="device_id, hour_start"
    ):
        keys += [(i["device_id"]["S"], int(i["hour_start"]["N"])) for i in page["Items"]]
    return {
        "name": stack.get("rollup_table_name"),
        "items": len(keys),
        "devices": len({d for d, _ in keys}),
        "sample_device": min((d for d, _ in keys), default=None),
    }


def summary(stack: Stack, sample_devices: int = 1) -> dict:
    """Counts and samples of what landed, as one JSON-able document."""
    items = table_items(stack)
    poison = quarantined(stack)
    devices = sorted({i["device_id"] for i in items})
    rollup_part = {}
    if stack.outputs.get("rollup_table_name"):  # stacks applied before rollups existed have none
        rollup_part = {
            "rollups": rollup_count(stack),
            "rollup_queue": queue_depth(stack, "rollup_queue_url"),
            "rollup_dlq": queue_depth(stack, "rollup_dlq_url"),
        }
    return {
        "table": {
            "name": stack.get("table_name"),
            "items": len(items),
            "devices": len(devices),
            "sample": [r for d in devices[:sample_devices] for r in latest_readings(stack, d)],
        },
        "quarantine": {
            "bucket": stack.get("quarantine_bucket"),
            "records": len(poison),
            "by_reason": dict(sorted(Counter(p.get("reason_code", "?") for p in poison).items())),
            "sample": [
                {k: p.get(k) for k in ("reason_code", "reason", "shard_id", "sequence_number")} for p in poison[:3]
            ],
        },
        "ingest_failure_queue": queue_depth(stack, "ingest_failure_queue_url"),
        **rollup_part,
    }
