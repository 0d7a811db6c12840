"""The seed-style read handler the bench compares ours against: what a first draft usually looks like.

A Scan with a filter on device and time (Limit applies before the filter, so it loops until the page is
full), the boto3 resource API (every number a Decimal), numbers written back as strings
(`json.dumps(default=str)`), and an unsigned cursor that is just the LastEvaluatedKey in base64."""

import base64
import json
import os

import boto3
from boto3.dynamodb.conditions import Attr


def handler(event, context):
    q = event.get("queryStringParameters") or {}
    device = event["pathParameters"]["device_id"]
    limit = int(q.get("limit", 100))
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    kwargs = {"FilterExpression": Attr("device_id").eq(device) & Attr("ts").between(int(q.get("from", 0)), int(q.get("to", 2**53)))}
    if q.get("cursor"):
        kwargs["ExclusiveStartKey"] = json.loads(base64.b64decode(q["cursor"]))
    items = []
    while True:
        resp = table.scan(**kwargs, Limit=limit - len(items))  # evaluated items, before the filter
        items += resp["Items"]
        last = resp.get("LastEvaluatedKey")
        if len(items) >= limit or not last:
            break
        kwargs["ExclusiveStartKey"] = last
    items.sort(key=lambda i: i["ts"])  # Scan order is the table's, not time: sorted within the page only
    cursor = base64.b64encode(json.dumps({"device_id": last["device_id"], "ts": int(last["ts"])}).encode()).decode() if last else None
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"items": items, "next_cursor": cursor}, default=str)}
