"""A device's hourly rollups (count; min/max/sum/avg per metric) over a time range: one DynamoDB Query
(plus its pages) on the rollups table, through rollup.store.query_rollups, the worker's own item format.

`from`/`to` follow the readings route's rules (epoch ms or ISO-8601, inclusive, from > to is a 400); the
range defaults to the last 24 hours and may span at most MAX_RANGE_HOURS hours (one year).

A year of a device with many metrics is more than Lambda returns (6 MB per synchronous response: a 10-metric
device's year is about 10.7 MB): the body holds the items that fit in BODY_BUDGET_BYTES and `next` says
where to continue (`{"from", "to"}` for the next request, null when every item is in)."""

from __future__ import annotations

import json
import time

from api import params
from api.http import bad_request, json_response
from rollup.job import HOUR_MS
from rollup.store import MAX_RANGE_HOURS, query_rollups

ROLLUP_PARAMS = frozenset({"from", "to", "order"})
DEFAULT_RANGE_MS = 24 * HOUR_MS
# bytes of items per body: Lambda's response limit is 6,291,456 bytes for the whole payload-2.0 answer, in
# which the body is a JSON string (every quote escaped: rollup JSON grows by about a fifth); 4 MB leaves room.
BODY_BUDGET_BYTES = 4_000_000


def _within_budget(items: list[dict], budget: int) -> int:
    """How many of `items` (in order) fit in `budget` bytes of JSON."""
    used = 0
    for n, item in enumerate(items):
        used += len(json.dumps(item, separators=(",", ":"))) + 1
        if used > budget:
            return n
    return len(items)


def rollups(req) -> dict:
    """GET /devices/{device_id}/rollups?from=&to=&order= : every hour overlapping [from, to] that has readings."""
    query = params.query_params(req.event, ROLLUP_PARAMS)
    device = params.device_id(req.event)
    to_ms = params.timestamp("to", query["to"]) if "to" in query else int(time.time() * 1000)
    from_ms = (
        params.timestamp("from", query["from"]) if "from" in query else max(params.MIN_TS_MS, to_ms - DEFAULT_RANGE_MS)
    )
    if from_ms > to_ms:
        raise bad_request("bad_range", f"from ({from_ms}) is after to ({to_ms})")
    if (to_ms - (from_ms - from_ms % HOUR_MS)) // HOUR_MS + 1 > MAX_RANGE_HOURS:
        raise bad_request(
            "bad_range", f"from..to spans more than {MAX_RANGE_HOURS} hours (one year); ask for a shorter range"
        )
    order = params.order(query)
    items = query_rollups(
        req.settings.rollup_table_name, device, from_ms, to_ms, ddb=req.ddb, descending=order == "desc"
    )
    req.count("dynamodb:Query")
    for item in items:
        item.pop("device_id", None)  # said once, at the top
    fits = _within_budget(items, BODY_BUDGET_BYTES)
    following = None
    if fits < len(items):
        first_left = items[fits]
        following = (
            {"from": first_left["hour_start"], "to": to_ms}
            if order == "asc"
            else {"from": from_ms, "to": first_left["hour_end"] - 1}  # hour_end is exclusive, to inclusive
        )
        items = items[:fits]
    body = {
        "device_id": device,
        "from": from_ms,
        "to": to_ms,
        "order": order,
        "count": len(items),
        "items": items,
        "next": following,
    }
    return json_response(200, body, cache_control=f"private, max-age={req.settings.readings_max_age_seconds}")
