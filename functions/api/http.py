"""API Gateway payload-2.0 responses: JSON bodies, the error shape, and the headers every answer carries."""

from __future__ import annotations

import json

JSON_TYPE = "application/json"
NO_STORE = "no-store"


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


def preflight(req) -> dict:
    """A CORS preflight (OPTIONS /{proxy+}): an empty 204; API Gateway adds the Access-Control-* headers."""
    return {"statusCode": 204, "headers": {"Cache-Control": NO_STORE}, "body": "", "isBase64Encoded": False}
