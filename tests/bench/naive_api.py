"""The seed-style read handler the bench compares ours against: what a first draft usually looks like.

A Query through the boto3 resource API (every number becomes a Decimal, then a string via
`json.dumps(default=str)`), `Limit=limit` (so a history that fills its last page exactly costs one more,
empty, request), and an unsigned cursor that is just the LastEvaluatedKey in base64 (anyone can forge it).

A Scan-with-filter draft was tried first; moto's Scan reads the whole table on every request (1.4 s for
Limit=10 on a 5,320-item table), so its latency would have measured moto, not the handler."""

import base64
import json
import os

import boto3
from boto3.dynamodb.conditions import Key


def handler(event, context):
    q = event.get("queryStringParameters") or {}
    device = event["pathParameters"]["device_id"]
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    kwargs = {
        "KeyConditionExpression": Key("device_id").eq(device)
        & Key("ts").between(int(q.get("from", 0)), int(q.get("to", 2**53))),
        "Limit": int(q.get("limit", 100)),
        "ScanIndexForward": q.get("order", "asc") == "asc",
    }
    if q.get("cursor"):
        kwargs["ExclusiveStartKey"] = json.loads(base64.b64decode(q["cursor"]))
    resp = table.query(**kwargs)
    last = resp.get("LastEvaluatedKey")
    cursor = (
        base64.b64encode(json.dumps({"device_id": last["device_id"], "ts": int(last["ts"])}).encode()).decode()
        if last
        else None
    )
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"items": resp["Items"], "next_cursor": cursor}, default=str),
    }
