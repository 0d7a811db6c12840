"""Service limits AWS enforces and moto does not, in one place: each is a number with its unit and the
AWS documentation it comes from, and a check that returns the error AWS would give (None when within).

Lambda (Lambda developer guide, "Lambda quotas"): 6 MB for a synchronous (RequestResponse) invocation's
request and response, 256 KB for an asynchronous (Event) invocation's event. Event source mappings and API
Gateway invoke synchronously; EventBridge Scheduler invokes asynchronously. Sizes are of the JSON as sent."""

from __future__ import annotations

import json

SYNC_PAYLOAD_MAX_BYTES = 6 * 1024 * 1024  # bytes (6 MB = 6,291,456): a synchronous request, and every response
ASYNC_EVENT_MAX_BYTES = 256 * 1024  # bytes (256 KB = 262,144): an asynchronous invocation's event


def lambda_response_error(body: str) -> tuple[str, str] | None:
    """(errorType, errorMessage) Lambda returns instead of a response over 6 MB, else None."""
    size = len(body.encode())
    if size <= SYNC_PAYLOAD_MAX_BYTES:
        return None
    return (
        "Function.ResponseSizeTooLarge",
        f"Response payload size ({size} bytes) exceeded maximum allowed payload size ({SYNC_PAYLOAD_MAX_BYTES} bytes).",
    )


def lambda_request_error(event: object, *, asynchronous: bool = False) -> tuple[str, str] | None:
    """(error code, message) Lambda's Invoke refuses an event over its invocation type's limit with, else None."""
    limit = ASYNC_EVENT_MAX_BYTES if asynchronous else SYNC_PAYLOAD_MAX_BYTES
    try:
        size = len(json.dumps(event).encode())
    except (TypeError, ValueError):
        return None
    if size <= limit:
        return None
    return (
        "RequestEntityTooLargeException",
        f"{size} byte payload is too large for the {'Event' if asynchronous else 'RequestResponse'} invocation "
        f"type (limit {limit} bytes)",
    )
