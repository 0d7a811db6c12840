"""A device's hourly rollups (count; min/max/sum/avg per metric) over a time range, a page at a time: one
DynamoDB Query per page on the rollups table, through rollup.store.query_rollups_page (the worker's item format).

`from`/`to` follow the readings route's rules (epoch ms or ISO-8601, inclusive, from > to is a 400); the
range defaults to the last 24 hours and may span at most MAX_RANGE_HOURS hours (one year). Pages are `limit`
hours (1-1000, default 100) and at most api.http.MAX_RESPONSE_BYTES of response: a year of a device is 9
pages at the most `limit`, never one 10 MB answer Lambda would refuse. `next_cursor` is signed like the
readings route's and bound to device, from, to and order; a cursor alone (no from/to) resumes the range it
was issued for, so the defaulted "last 24 hours" does not move under a client paging through it."""

from __future__ import annotations

import json
import time

from api import params
from api.cursor import _b64decode
from api.http import bad_request, items_that_fit, json_response
from rollup.job import HOUR_MS
from rollup.store import MAX_RANGE_HOURS, query_rollups_page

ROLLUP_PARAMS = frozenset({"from", "to", "order", "limit", "cursor"})
DEFAULT_RANGE_MS = 24 * HOUR_MS


def _range_of_cursor(token: str) -> tuple[int, int] | None:
    """The from/to a cursor was issued for, read before it is verified (open() then checks its MAC over them)."""
    try:
        fields = json.loads(_b64decode(token.split(".")[0]))
        return int(fields["f"]), int(fields["t"])
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # open() answers bad_cursor


def rollups(req) -> dict:
    """GET /devices/{device_id}/rollups?from=&to=&order=&limit=&cursor= : hours overlapping [from, to] with readings."""
    query = params.query_params(req.event, ROLLUP_PARAMS)
    device = params.device_id(req.event)
    issued = _range_of_cursor(query["cursor"]) if "cursor" in query and not {"from", "to"} & set(query) else None
    if issued:
        from_ms, to_ms = issued
    else:
        to_ms = params.timestamp("to", query["to"]) if "to" in query else int(time.time() * 1000)
        from_ms = (
            params.timestamp("from", query["from"])
            if "from" in query
            else max(params.MIN_TS_MS, to_ms - DEFAULT_RANGE_MS)
        )
    if from_ms > to_ms:
        raise bad_request("bad_range", f"from ({from_ms}) is after to ({to_ms})")
    if (to_ms - (from_ms - from_ms % HOUR_MS)) // HOUR_MS + 1 > MAX_RANGE_HOURS:
        raise bad_request(
            "bad_range", f"from..to spans more than {MAX_RANGE_HOURS} hours (one year); ask for a shorter range"
        )
    page = params.PageRequest(
        route=req.event.get("routeKey", ""),
        device_id=device,
        from_ms=from_ms,
        to_ms=to_ms,
        limit=params.limit(query),
        order=params.order(query),
        after_ts=None,
    )
    after_hour = req.signer.open(query["cursor"], page.binding) if "cursor" in query else None
    items, more = query_rollups_page(
        req.settings.rollup_table_name,
        device,
        from_ms,
        to_ms,
        limit=page.limit,
        after_hour=after_hour,
        descending=page.order == "desc",
        ddb=req.ddb,
    )
    req.count("dynamodb:Query")
    for item in items:
        item.pop("device_id", None)  # said once, at the top
    body = {"device_id": device, "from": from_ms, "to": to_ms, "order": page.order, "limit": page.limit}
    fit = items_that_fit(items, {**body, "count": len(items), "items": []})
    if fit < len(items):
        items, more = items[:fit], True
    body.update(count=len(items), items=items)
    body["next_cursor"] = req.signer.issue(page.binding, items[-1]["hour_start"]) if more else None
    return json_response(200, body, cache_control=f"private, max-age={req.settings.readings_max_age_seconds}")
