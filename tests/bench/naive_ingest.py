"""The seed-style ingest handler the bench compares ours against: what a first draft usually looks like.

One PutItem per record through the boto3 resource API, no batching, no validation beyond decoding,
no quarantine, no partial-batch answer; and, like ours, a rollup job for each reading it stores, the
first-draft way: one SendMessage per record (the design documents' one put per record). So the
end-to-end row compares the same work: readings stored and rollups made. boto3 ≥1.28 honours
AWS_ENDPOINT_URL on its own."""

import base64
import json
import os
from decimal import Decimal

import boto3

HOUR_MS = 3_600_000


def handler(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    queue_url = os.environ.get("ROLLUP_QUEUE_URL")
    sqs = boto3.client("sqs") if queue_url else None
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
        if sqs:
            hour = int(reading["ts"]) // HOUR_MS * HOUR_MS
            sqs.send_message(
                QueueUrl=queue_url, MessageBody=json.dumps({"device_id": reading["device_id"], "hour_start": hour})
            )
    return {"batchItemFailures": []}
