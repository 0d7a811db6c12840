"""GET /devices: the caller's devices from the device registry, in device id order, one Query per page.

A tenant's caller lists its own tenant (`tenant=` may only name it); an operator names the tenant to list
(`tenant=` is required: the registry is read through its tenant index, never scanned). Paginated with the
same signed cursors as readings, bound to the caller, the tenant and the route."""

from __future__ import annotations

from api import params
from api.http import ApiError, bad_request, json_response
from api.tenancy import TENANT

LIST_PARAMS = frozenset({"tenant", "limit", "cursor"})


def device(item: dict) -> dict:
    """A registry item in DynamoDB's wire format as the API shows it."""
    created = item.get("created_at", {}).get("N")
    return {
        "device_id": item["device_id"]["S"],
        "tenant": item["tenant"]["S"],
        "status": item.get("status", {}).get("S", "unknown"),
        "created_at": int(created) if created is not None else None,
    }


def _tenant(req, query: dict[str, str]) -> str:
    who = req.caller
    asked = query.get("tenant")
    if asked is not None and not TENANT.fullmatch(asked):
        raise bad_request("bad_tenant", "tenant must be 1-63 characters of a-z 0-9 - (starting with a letter or digit)")
    if who.operator:
        if asked is None and who.tenant is None:
            raise bad_request("tenant_required", "operators list one tenant at a time: pass tenant=")
        return asked or who.tenant
    if asked is not None and asked != who.tenant:
        raise ApiError(403, "forbidden_tenant", "a caller may list only its own tenant's devices")
    return who.tenant


def list_devices(req) -> dict:
    """GET /devices?tenant=&limit=&cursor= : a page of one tenant's devices (one Query on the tenant index)."""
    query = params.query_params(req.event, LIST_PARAMS)
    tenant = _tenant(req, query)
    limit = params.limit(query)
    binding = {"r": req.event.get("routeKey", ""), "n": tenant, "s": req.caller.sub}
    after = req.signer.open(query["cursor"], binding) if "cursor" in query else None
    if after is not None and not isinstance(after, str):
        raise bad_request("bad_cursor", "cursor was not issued by GET /devices")
    condition, values = "tenant = :t", {":t": {"S": tenant}}
    if after is not None:
        condition, values = condition + " AND device_id > :after", {**values, ":after": {"S": after}}
    resp = req.ddb.query(
        TableName=req.settings.registry_table_name,
        IndexName=req.settings.registry_tenant_index,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=values,
        ExpressionAttributeNames={"#s": "status"},
        ProjectionExpression="device_id, tenant, #s, created_at",
        Limit=limit + 1,  # one more than the page says whether another page exists
    )
    req.count("dynamodb:Query")
    raw = resp.get("Items", [])
    items = [device(i) for i in raw[:limit]]
    more = len(raw) > limit or (resp.get("LastEvaluatedKey") and items)
    body = {
        "tenant": tenant,
        "limit": limit,
        "count": len(items),
        "items": items,
        "next_cursor": req.signer.issue(binding, items[-1]["device_id"]) if more else None,
    }
    return json_response(200, body, cache_control="private, no-cache")
