"""The seed-style ingest handler the bench compares ours against: what a first draft usually looks like.

One PutItem per record through the boto3 resource API, no batching, no validation beyond decoding,
no quarantine, no partial-batch answer. boto3 ≥1.28 honours AWS_ENDPOINT_URL on its own."""

import base64
import json
import os
from decimal import Decimal

import boto3


def handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    ttl_days = int(os.environ.get("READING_TTL_DAYS", "90"))
    for record in event["Records"]:
        reading = json.loads(base64.b64decode(record["kinesis"]["data"]), parse_float=Decimal)
        table.put_item(
            Item={
                "device_id": reading["device_id"],
                "ts": reading["ts"],
                "metrics": reading["metrics"],
                "expires_at": reading["ts"] // 1000 + ttl_days * 86400,
            }
        )
    return {"batchItemFailures": []}
