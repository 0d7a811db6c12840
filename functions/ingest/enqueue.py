"""Rollup jobs onto the rollup queue: one per (device, hour) the written readings touch, ≤10 per
SendMessageBatch, retried while time is left.

Called only after the readings are in the table. A job that still cannot be sent is reported by the
sequence numbers of the readings behind it: Lambda re-delivers them, their writes are idempotent, and
the job is enqueued again. So a failed enqueue costs a rewrite, never a lost rollup."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from common.retry import drive, retryable
from rollup.job import RollupJob

SEND_BATCH_MAX = 10  # entries per SendMessageBatch (AWS limit, docs/aws-limits.md §SQS)


class EnqueueOutcome:
    """What an enqueue achieved: jobs sent, and the sequence numbers whose jobs could not be sent."""

    __slots__ = ("failed", "failed_jobs", "requests", "retries", "sent")

    def __init__(self):
        self.sent = 0
        self.failed_jobs = 0
        self.failed: list[str] = []  # sequence numbers to hand back to Lambda
        self.requests = 0
        self.retries = 0  # SendMessageBatch requests that re-sent something


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
    out = EnqueueOutcome()

    def send(chunk: list[RollupJob]) -> list[RollupJob]:
        try:
            resp = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "MessageBody": job.body()} for i, job in enumerate(chunk)],
            )
        except (ClientError, BotoCoreError) as exc:
            if retryable(exc):
                return chunk
            log.error(
                "SendMessageBatch failed and cannot be retried; the readings behind its jobs go back to Lambda",
                error=str(exc),
                error_type=type(exc).__name__,
                jobs=len(chunk),
            )
            _give_up(out, jobs, chunk)
            return []
        refused = {int(f["Id"]): f for f in resp.get("Failed", [])}
        out.sent += len(chunk) - len(refused)
        again = []
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
                again.append(chunk[i])
        return again

    def on_retry(unsent: list[RollupJob], attempt: int, delay_ms: float) -> None:
        log.warning(
            "SQS throttled or failed rollup jobs; retrying", jobs=len(unsent), attempt=attempt, delay_ms=round(delay_ms)
        )

    unsent, attempts = drive(
        list(jobs),
        send,
        chunk_size=SEND_BATCH_MAX,
        remaining_ms=remaining_ms,
        counted=out,
        on_retry=on_retry,
        sleep=sleep,
        rng=rng,
    )
    if unsent:
        log.error(
            "rollup jobs still unsent when time ran out; the readings behind them go back to Lambda",
            jobs=len(unsent),
            attempts=attempts,
        )
        _give_up(out, jobs, unsent)
    return out


def _give_up(out: EnqueueOutcome, jobs: dict[RollupJob, list[str]], chunk: list[RollupJob]) -> None:
    out.failed_jobs += len(chunk)
    out.failed += [s for job in chunk for s in jobs[job]]
