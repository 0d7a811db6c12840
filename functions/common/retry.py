"""The one retry driver of the handlers' batch calls (BatchWriteItem, SendMessageBatch): chunk → send → retry
what was refused with exponential backoff and full jitter → stop when the invocation's remaining time, less a
safety margin, would not cover the next wait. What is left then goes back to the caller, who hands its records
back to Lambda (they are re-delivered; the writes are idempotent).

Also the one retry classifier (throttling, 5xx, connection trouble) and the one reading of an invocation's
remaining time."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

# Error codes worth retrying, of every service the handlers call in batches: DynamoDB's throttling and internal
# errors, SQS's and KMS's throttling (SQS encrypts with a CMK), and AWS's generic ones. Any 5xx is retried too.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "KMS.ThrottlingException",
    }
)
BACKOFF_BASE_MS = 50  # first wait at most 50 ms, doubling per attempt
BACKOFF_CAP_MS = 2_000  # no single wait longer than 2 s
SAFETY_MARGIN_MS = 1_000  # left for the quarantine, the report and Lambda itself after the last retry

T = TypeVar("T")


class Counted(Protocol):
    requests: int  # calls made
    retries: int  # calls that re-sent something


def retryable(exc: Exception) -> bool:
    """Whether an AWS call's failure may succeed if tried again (throttling, 5xx, the connection)."""
    if isinstance(exc, ClientError):
        return (
            exc.response.get("Error", {}).get("Code") in RETRYABLE_CODES
            or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
        )
    return isinstance(exc, (ConnectionError, HTTPClientError))


def remaining_ms(context, default_budget_ms: int) -> Callable[[], int]:
    """The invocation's remaining time in milliseconds, as a function; `default_budget_ms` from now when the
    context cannot say (local callers, tests without a Lambda context)."""
    if callable(getattr(context, "get_remaining_time_in_millis", None)):
        return context.get_remaining_time_in_millis
    deadline = time.monotonic() + default_budget_ms / 1000
    return lambda: int((deadline - time.monotonic()) * 1000)


def drive(
    items: list[T],
    send: Callable[[list[T]], list[T]],
    *,
    chunk_size: int,
    remaining_ms: Callable[[], int],
    counted: Counted,
    on_retry: Callable[[list[T], int, float], None],
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> tuple[list[T], int]:
    """Sends `items` in chunks of `chunk_size` until none is left to retry or time runs out.

    `send(chunk)` makes one call and returns the part of the chunk to send again (it gives up on what cannot
    succeed itself); `on_retry(items, attempt, delay_ms)` is told before each wait. Returns what was still
    unsent when the next wait would have eaten into the safety margin (empty when everything went), and how many
    rounds of calls were made."""
    rng = rng or random.Random()
    pending, attempt = list(items), 0
    while pending:
        again: list[T] = []
        for start in range(0, len(pending), chunk_size):
            counted.requests += 1
            counted.retries += attempt > 0
            again += send(pending[start : start + chunk_size])
        if not again:
            return [], attempt + 1
        delay_ms = rng.uniform(0, min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2**attempt))
        if remaining_ms() - SAFETY_MARGIN_MS <= delay_ms:
            return again, attempt + 1
        on_retry(again, attempt + 1, delay_ms)
        sleep(delay_ms / 1000)
        pending, attempt = again, attempt + 1
    return [], attempt
