"""API Gateway payload-2.0 responses: JSON bodies, the error shape, and the headers every answer carries."""

from __future__ import annotations

import json

JSON_TYPE = "application/json"
NO_STORE = "no-store"
# Lambda refuses a synchronous response over 6 MB (6,291,456 bytes) and API Gateway then answers 502. Every page
# is cut to this many bytes of serialized response (the body is escaped once more inside it), leaving ~2 MB spare.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
CURSOR_ALLOWANCE_BYTES = 1_024  # room kept for a next_cursor (api.cursor.MAX_CURSOR_CHARS) not yet issued


class ApiError(Exception):
    """A request the API refuses: `{"error": {"code", "message"}}` with an HTTP status (400, 404, 503)."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> dict:
        return json_response(
            self.status,
            {"error": {"code": self.code, "message": self.message}},
            cache_control=NO_STORE,
            headers=self.headers,
        )


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def json_response(status: int, body, *, cache_control: str, headers: dict | None = None) -> dict:
    """A payload-2.0 response: JSON body (numbers as numbers, never NaN), Content-Type and Cache-Control."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON_TYPE, "Cache-Control": cache_control, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), allow_nan=False),
        "isBase64Encoded": False,
    }


def _encoded_len(value) -> int:
    """Bytes `value` takes inside the Lambda response: JSON, then escaped as the body string. json.dumps writes
    ASCII with every control character escaped, so escaping it again adds one byte per `"` and per `\\` only."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return len(text) + text.count('"') + text.count("\\")


def items_that_fit(items: list, envelope: dict, *, budget: int | None = None) -> int:
    """How many of `items` (at least one) fit in a response whose body is `envelope` plus those items, so the
    serialized Lambda response stays within `budget` bytes; the caller pages on from the last item that fits."""
    budget = MAX_RESPONSE_BYTES if budget is None else budget
    used = _encoded_len(envelope) + CURSOR_ALLOWANCE_BYTES + 512  # + headers and the response's own keys
    if used + _encoded_len(items) <= budget:  # the usual page: one serialization of the list, not one per item
        return len(items)
    for n, item in enumerate(items):
        used += _encoded_len(item) + 1  # + its comma
        if used > budget and n > 0:
            return n
    return len(items)


def preflight(req) -> dict:
    """A CORS preflight (OPTIONS /{proxy+}): an empty 204; API Gateway adds the Access-Control-* headers."""
    return {"statusCode": 204, "headers": {"Cache-Control": NO_STORE}, "body": "", "isBase64Encoded": False}
