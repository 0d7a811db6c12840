"""Rollup jobs onto the rollup queue: one per (device, hour) the written readings touch, ≤10 per
SendMessageBatch, retried while time is left.

Called only after the readings are in the table. A job that still cannot be sent is reported by the
sequence numbers of the readings behind it: Lambda re-delivers them, their writes are idempotent, and
the job is enqueued again. So a failed enqueue costs a rewrite, never a lost rollup."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from rollup.job import RollupJob

SEND_BATCH_MAX = 10  # entries per SendMessageBatch (AWS limit)
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "KMS.ThrottlingException",
    }
)
BACKOFF_BASE_MS = 50
BACKOFF_CAP_MS = 2_000
SAFETY_MARGIN_MS = 1_000  # left for the report and Lambda itself after the last retry


class EnqueueOutcome:
    """What an enqueue achieved: jobs sent, and the sequence numbers whose jobs could not be sent."""

    __slots__ = ("failed", "failed_jobs", "requests", "retries", "sent")

    def __init__(self):
        self.sent = 0
        self.failed_jobs = 0
        self.failed: list[str] = []  # sequence numbers to hand back to Lambda
        self.requests = 0
        self.retries = 0  # SendMessageBatch requests that re-sent something


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return (
            err.get("Code") in RETRYABLE_CODES
            or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
        )
    return isinstance(exc, (ConnectionError, HTTPClientError))


def enqueue(
    sqs,
    queue_url: str,
    jobs: dict[RollupJob, list[str]],
    *,
    remaining_ms: Callable[[], int],
    log,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> EnqueueOutcome:
    """Sends every job ({job: sequence numbers behind it}); never raises for an AWS error."""
    rng = rng or random.Random()
    out = EnqueueOutcome()
    pending = list(jobs)
    attempt = 0
    while pending:
        unsent: list[RollupJob] = []
        for start in range(0, len(pending), SEND_BATCH_MAX):
            chunk = pending[start : start + SEND_BATCH_MAX]
            out.requests += 1
            out.retries += attempt > 0
            try:
                resp = sqs.send_message_batch(
                    QueueUrl=queue_url,
                    Entries=[{"Id": str(i), "MessageBody": job.body()} for i, job in enumerate(chunk)],
                )
            except (ClientError, BotoCoreError) as exc:
                if _retryable(exc):
                    unsent += chunk
                    continue
                log.error(
                    "SendMessageBatch failed and cannot be retried; the readings behind its jobs go back to Lambda",
                    error=str(exc),
                    error_type=type(exc).__name__,
                    jobs=len(chunk),
                )
                _give_up(out, jobs, chunk)
                continue
            refused = {int(f["Id"]): f for f in resp.get("Failed", [])}
            out.sent += len(chunk) - len(refused)
            for i, f in sorted(refused.items()):
                if f.get("SenderFault"):
                    log.error(
                        "SQS refused a rollup job as malformed; the readings behind it go back to Lambda",
                        code=f.get("Code"),
                        error=f.get("Message"),
                        device_id=chunk[i].device_id,
                        hour_start=chunk[i].hour_start,
                    )
                    _give_up(out, jobs, [chunk[i]])
                else:
                    unsent.append(chunk[i])
        if not unsent:
            break
        delay_ms = rng.uniform(0, min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2**attempt))
        if remaining_ms() - SAFETY_MARGIN_MS <= delay_ms:
            log.error(
                "rollup jobs still unsent when time ran out; the readings behind them go back to Lambda",
                jobs=len(unsent),
                attempts=attempt + 1,
            )
            _give_up(out, jobs, unsent)
            break
        log.warning(
            "SQS throttled or failed rollup jobs; retrying",
            jobs=len(unsent),
            attempt=attempt + 1,
            delay_ms=round(delay_ms),
        )
        sleep(delay_ms / 1000)
        pending, attempt = unsent, attempt + 1
    return out


def _give_up(out: EnqueueOutcome, jobs: dict[RollupJob, list[str]], chunk: list[RollupJob]) -> None:
    out.failed_jobs += len(chunk)
    out.failed += [s for job in chunk for s in jobs[job]]
