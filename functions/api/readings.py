"""Readings of one device: a page of a time range (one DynamoDB Query), and the newest reading.

Items come from the low-level client, so numbers arrive as DynamoDB's decimal strings and leave as JSON
numbers (int when integral, else float): no Decimal, no numbers-as-strings."""

from __future__ import annotations

import re

from api import params
from api.http import ApiError, items_that_fit, json_response

_INTEGER = re.compile(r"-?[0-9]+")
_NAMES = {"#ts": "ts", "#m": "metrics"}
PROJECTION = "#ts, #m"


def number(text: str) -> int | float:
    """A DynamoDB N value as a JSON number."""
    return int(text) if _INTEGER.fullmatch(text) else float(text)


def reading(item: dict) -> dict:
    """`{"ts": epoch ms, "metrics": {name: number}}` from a table item in DynamoDB's wire format."""
    return {"ts": int(item["ts"]["N"]), "metrics": {k: number(v["N"]) for k, v in item["metrics"]["M"].items()}}


def list_readings(req) -> dict:
    """GET /devices/{device_id}/readings?from=&to=&limit=&order=&cursor= : one Query per page."""
    page = params.page_request(req.event, req.signer)
    asc = page.order == "asc"
    lo, hi = page.from_ms, page.to_ms
    if page.after_ts is not None:  # resume strictly after the last reading of the previous page
        lo, hi = (page.after_ts + 1, hi) if asc else (lo, page.after_ts - 1)
    items, next_after = [], None
    if lo <= hi:
        # One item more than the page: it tells whether another page exists without a second, empty request.
        resp = req.ddb.query(
            TableName=req.settings.table_name,
            KeyConditionExpression="device_id = :d AND #ts BETWEEN :lo AND :hi",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={":d": {"S": page.device_id}, ":lo": {"N": str(lo)}, ":hi": {"N": str(hi)}},
            ProjectionExpression=PROJECTION,
            ScanIndexForward=asc,
            Limit=page.limit + 1,
        )
        req.count("dynamodb:Query")
        raw = resp.get("Items", [])
        items = [reading(i) for i in raw[: page.limit]]
        more = len(raw) > page.limit or bool(resp.get("LastEvaluatedKey") and items)  # so does DynamoDB's 1 MB cap
        fit = items_that_fit(items, {"device_id": page.device_id, "items": []})  # and Lambda's 6 MB response cap
        if fit < len(items):
            items, more = items[:fit], True
        if more:
            next_after = items[-1]["ts"]
    body = {
        "device_id": page.device_id,
        "from": page.from_ms,
        "to": page.to_ms,
        "order": page.order,
        "limit": page.limit,
        "count": len(items),
        "items": items,
        "next_cursor": req.signer.issue(page.binding, next_after) if next_after is not None else None,
    }
    return json_response(200, body, cache_control=f"private, max-age={req.settings.readings_max_age_seconds}")


def latest(req) -> dict:
    """GET /devices/{device_id}/latest : the newest reading (404 when the device has none)."""
    params.query_params(req.event, frozenset())
    device = params.device_id(req.event)
    resp = req.ddb.query(
        TableName=req.settings.table_name,
        KeyConditionExpression="device_id = :d",
        ExpressionAttributeNames=_NAMES,
        ExpressionAttributeValues={":d": {"S": device}},
        ProjectionExpression=PROJECTION,
        ScanIndexForward=False,
        Limit=1,
    )
    req.count("dynamodb:Query")
    if not resp.get("Items"):
        raise ApiError(404, "no_readings", f"device {device!r} has no readings")
    return json_response(200, {"device_id": device, **reading(resp["Items"][0])}, cache_control="no-cache")
