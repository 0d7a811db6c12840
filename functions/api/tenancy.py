"""Who is calling, and which devices they may see.

The caller is what API Gateway's JWT authorizer verified (payload 2.0: `requestContext.authorizer.jwt.claims`):
its `sub`, and its Cognito groups (`cognito:groups`, in access and ID tokens alike). A caller belongs to a
tenant through exactly one group named `tenant-<tenant>`; members of the `operators` group see every tenant.
Groups rather than a custom attribute because Cognito puts custom attributes in ID tokens only, and the API is
called with access tokens (whose `scope` the routes require).

A device of another tenant answers exactly as a device that does not exist (404 `device_not_found`, same
message), so device ids cannot be probed. Operators may also read devices that are not in the registry
(readings written by trusted back-end producers through PutRecords)."""

from __future__ import annotations

import re
import time
import weakref
from typing import NamedTuple

from api.http import ApiError

TENANT_GROUP_PREFIX = "tenant-"
OPERATOR_GROUP = "operators"
TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # also what `opsctl devices register --tenant` accepts
TENANT_MEMO_SECONDS = 300.0  # seconds a warm container trusts a registry entry it read (authorize_device)
TENANT_MEMO_MAX = 10_000  # registry entries a container remembers at most (a few hundred bytes each)
clock = time.monotonic  # seconds; what the memo's age is measured with (tests move it forward)


class Caller(NamedTuple):
    sub: str
    tenant: str | None  # None for an operator without a tenant group
    operator: bool


def _groups(claims: dict) -> list[str]:
    """`cognito:groups` as a list: API Gateway hands array claims to the function as "[a b]" strings."""
    raw = claims.get("cognito:groups")
    if raw is None:
        return []
    if isinstance(raw, list):
        return [str(g) for g in raw]
    text = str(raw).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [g for g in re.split(r"[\s,]+", text) if g]


def caller(event: dict) -> Caller:
    """The verified caller of this request; 401 without verified claims, 403 without exactly one tenant."""
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        # Only reachable if a route lost its authorizer: fail closed.
        raise ApiError(401, "unauthenticated", "this API needs a valid access token")
    groups = _groups(claims)
    operator = OPERATOR_GROUP in groups
    tenants = sorted({g[len(TENANT_GROUP_PREFIX) :] for g in groups if g.startswith(TENANT_GROUP_PREFIX)})
    tenants = [t for t in tenants if TENANT.fullmatch(t)]
    if len(tenants) > 1:
        raise ApiError(403, "ambiguous_tenant", "the caller belongs to more than one tenant group; ask an admin")
    if not tenants and not operator:
        raise ApiError(403, "no_tenant", "the caller belongs to no tenant; ask an admin to add it to one")
    return Caller(sub=sub, tenant=tenants[0] if tenants else None, operator=operator)


def not_found(device_id: str) -> ApiError:
    """The one answer for a device that is missing or foreign: same status, code and message."""
    return ApiError(404, "device_not_found", f"device {device_id!r} not found")


def authorize_device(req, device_id: str) -> None:
    """Returns if the caller may read the device; 404 if it is missing or another tenant's.

    An operator may read any device, registered or not: no lookup. A tenant's caller: one GetItem on the registry,
    unless this container found the device there in the last TENANT_MEMO_SECONDS (a device never moves between
    tenants: `opsctl devices register` refuses it, so what was found stays true; the bound only covers an entry
    edited by hand). A device not found is never remembered: one registered a moment later is served at once."""
    who = req.caller
    if who.operator:
        return
    memo = _memo(req.ddb)
    key = (req.settings.registry_table_name, device_id)
    found = memo.get(key)
    now = clock()
    if found is None or now - found[1] > TENANT_MEMO_SECONDS:
        resp = req.ddb.get_item(
            TableName=req.settings.registry_table_name,
            Key={"device_id": {"S": device_id}},
            ProjectionExpression="tenant",
        )
        req.count("dynamodb:GetItem")
        tenant = (resp.get("Item") or {}).get("tenant", {}).get("S")
        if tenant is None:
            memo.pop(key, None)
            raise not_found(device_id)
        if len(memo) >= TENANT_MEMO_MAX:
            memo.clear()  # a container serving this many devices re-reads them: memory stays bounded
        found = memo[key] = (tenant, now)
    if found[0] != who.tenant:
        raise not_found(device_id)


# The registry entries a warm container has seen, per DynamoDB client (a new client, as after a change of endpoint
# or keys, starts with none): (registry table, device id) -> (tenant, clock() when read).
_MEMOS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _memo(ddb) -> dict[tuple[str, str], tuple[str, float]]:
    memo = _MEMOS.get(ddb)
    if memo is None:
        memo = _MEMOS[ddb] = {}
    return memo
