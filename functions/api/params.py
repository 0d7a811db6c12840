"""Request parameters every route shares, parsed and validated once: device id, time range (epoch ms or
ISO-8601), limit, order and the signed cursor. Each parser raises a 400 ApiError naming the parameter.

A route calls `query_params(event, allowed)` first (unknown names are a 400, so a typo such as `form=`
never silently widens a query), then the parsers it needs, or `page_request` for a whole paged listing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from api.http import bad_request
from ingest.validate import DEVICE_ID  # one fact, one place: what ingest accepts is what we can serve

MIN_TS_MS = 0
MAX_TS_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the largest ISO-8601 instant Python can parse
LIMIT_MIN, LIMIT_MAX, LIMIT_DEFAULT = 1, 1000, 100  # items per page
ORDERS = ("asc", "desc")
PAGE_PARAMS = frozenset({"from", "to", "limit", "order", "cursor"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_EPOCH_MS = re.compile(r"[0-9]{1,15}")
_DIGITS = re.compile(r"[0-9]{1,5}")  # ASCII only: str.isdigit() takes "²", which int() refuses
_OFFSET_AFTER_SPACE = re.compile(r" ([0-9]{2}(:?[0-9]{2})?)$")  # "+01:00" whose "+" a form decoder turned into a space


class TimeRange(NamedTuple):
    from_ms: int  # inclusive
    to_ms: int  # inclusive


class PageRequest(NamedTuple):
    """One page of a listing: what to read, in which order, and where the previous page stopped."""

    route: str
    device_id: str
    from_ms: int
    to_ms: int
    limit: int
    order: str
    after_ts: int | None  # the last ts the previous page returned (exclusive), from a verified cursor
    caller_sub: str | None = None  # the verified caller's `sub`: a cursor works for the caller it was issued to

    @property
    def binding(self) -> dict:
        """What a cursor of this listing is bound to: caller, route, device and query (not the limit, which may
        change)."""
        return {
            "r": self.route,
            "d": self.device_id,
            "f": self.from_ms,
            "t": self.to_ms,
            "o": self.order,
            "s": self.caller_sub,
        }


def query_params(event: dict, allowed: frozenset[str] | set[str]) -> dict[str, str]:
    """The query string parameters (API Gateway joins repeated ones with commas); unknown names are a 400."""
    params = event.get("queryStringParameters") or {}
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise bad_request("unknown_parameter", f"unknown query parameter {unknown[0]!r} (accepted: {accepted})")
    return params


def claimed_sub(event: dict) -> str | None:
    """The `sub` claim API Gateway's JWT authorizer verified (None without an authorizer)."""
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


def device_id(event: dict) -> str:
    """The `{device_id}` path parameter, checked against the ingest contract ([A-Za-z0-9_.:-]{1,128})."""
    value = (event.get("pathParameters") or {}).get("device_id")
    if value is None or not DEVICE_ID.fullmatch(value):
        raise bad_request("bad_device_id", "device_id must be 1-128 characters of A-Z a-z 0-9 _ . : -")
    return value


def timestamp(name: str, raw: str) -> int:
    """Epoch milliseconds from `raw`: digits (epoch ms) or an ISO-8601 instant with a time zone."""
    if _EPOCH_MS.fullmatch(raw):
        value = int(raw)
    else:
        text = _OFFSET_AFTER_SPACE.sub(r"+\1", raw.strip())
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise bad_request(
                f"bad_{name}",
                f"{name} must be epoch milliseconds or an ISO-8601 time such as 2025-11-22T08:00:00Z, not {raw[:40]!r}",
            ) from None
        if parsed.tzinfo is None:
            raise bad_request(f"bad_{name}", f"{name} must carry a time zone (Z or ±hh:mm): {raw[:40]!r} is ambiguous")
        value = (parsed - _EPOCH) // _ONE_MS
    if not MIN_TS_MS <= value <= MAX_TS_MS:
        raise bad_request(f"bad_{name}", f"{name} must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z")
    return value


def time_range(params: dict[str, str]) -> TimeRange:
    """`from` and `to` (both inclusive; default: all of time); from after to is a 400."""
    from_ms = timestamp("from", params["from"]) if "from" in params else MIN_TS_MS
    to_ms = timestamp("to", params["to"]) if "to" in params else MAX_TS_MS
    if from_ms > to_ms:
        raise bad_request("bad_range", f"from ({from_ms}) is after to ({to_ms})")
    return TimeRange(from_ms, to_ms)


def limit(params: dict[str, str]) -> int:
    raw = params.get("limit")
    if raw is None:
        return LIMIT_DEFAULT
    if not _DIGITS.fullmatch(raw) or not LIMIT_MIN <= int(raw) <= LIMIT_MAX:
        raise bad_request(
            "bad_limit", f"limit must be a whole number from {LIMIT_MIN} to {LIMIT_MAX}, not {raw[:20]!r}"
        )
    return int(raw)


def order(params: dict[str, str]) -> str:
    raw = params.get("order", "asc")
    if raw not in ORDERS:
        raise bad_request("bad_order", f"order must be asc or desc, not {raw[:20]!r}")
    return raw


def page_request(event: dict, signer, *, extra_params: frozenset[str] = frozenset()) -> PageRequest:
    """Every parameter of a paged listing, validated, with the cursor verified against this very query.

    `signer` is an api.cursor.CursorSigner; `extra_params` are route-specific names the route parses itself."""
    params = query_params(event, PAGE_PARAMS | extra_params)
    page = PageRequest(
        route=event.get("routeKey", ""),
        device_id=device_id(event),
        **time_range(params)._asdict(),
        limit=limit(params),
        order=order(params),
        after_ts=None,
        caller_sub=claimed_sub(event),
    )
    if "cursor" in params:
        page = page._replace(after_ts=signer.open(params["cursor"], page.binding))
    return page
