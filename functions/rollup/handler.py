"""SQS rollup jobs → the rollups table. Each job recomputes one device-hour from the raw readings and
overwrites its rollup (idempotent: a retried or replayed job cannot double-count). A job that cannot be
done, malformed or failing, is reported alone in batchItemFailures (itemIdentifier = messageId), so SQS
retries it and, after maxReceiveCount receives, moves it to the dead-letter queue; the others are deleted.
Handler string: `rollup.handler.handler`."""

from __future__ import annotations

import os
import time
from typing import NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from common import clients, metrics, retry
from common.batch import item_failures
from common.log import Logger
from rollup import store
from rollup.aggregate import aggregate
from rollup.job import BadJob, RollupJob, parse

SAFETY_MARGIN_MS = 500  # jobs not started with less time left than this are handed back, not timed out
JOB_TIME_MARGIN = 2  # ... nor with less than twice the slowest job of this batch so far
DEFAULT_BUDGET_MS = 30_000  # when the context cannot say how much time is left (local callers)
# A job is already done when the stored rollup began its (strongly consistent) read after the job was sent,
# i.e. after the readings behind it were written. SentTimestamp is SQS's clock and computed_at the worker's:
# this margin covers their skew (NTP-synced hosts: milliseconds), erring towards recomputing.
CLOCK_SKEW_MARGIN_MS = 1_000


class Settings(NamedTuple):
    readings_table: str
    rollups_table: str
    ttl_days: int
    environment: str | None

    @classmethod
    def from_environ(cls) -> Settings:
        env = os.environ
        return cls(
            readings_table=env.get("READINGS_TABLE_NAME", ""),
            rollups_table=env.get("ROLLUP_TABLE_NAME", ""),
            ttl_days=int(env.get("ROLLUP_TTL_DAYS") or store.DEFAULT_TTL_DAYS),
            environment=env.get("ENVIRONMENT"),
        )


def handler(event, context):
    started = time.perf_counter()
    settings = Settings.from_environ()
    log = Logger(context, environment=settings.environment)
    remaining_ms = retry.remaining_ms(context, DEFAULT_BUDGET_MS)
    records = event.get("Records") or []

    # Parse: every message is a job or malformed; duplicates of one job are done once. Messages received most
    # often go first, so a job handed back near the deadline is not the one handed back again next time.
    jobs: dict[RollupJob, list[str]] = {}
    sent_at: dict[RollupJob, int | None] = {}  # the newest SentTimestamp among a job's messages (epoch ms)
    failed: list[str] = []
    malformed = 0
    for record in sorted(records, key=_receive_count, reverse=True):
        message_id = record["messageId"]
        try:
            job = parse(record.get("body"))
            jobs.setdefault(job, []).append(message_id)
            sent, previous = _sent_timestamp(record), sent_at.get(job, 0)
            sent_at[job] = None if sent is None or previous is None else max(sent, previous)
        except BadJob as exc:
            malformed += 1
            failed.append(message_id)
            log.error(
                "malformed rollup job; it stays on the queue and goes to the DLQ after maxReceiveCount receives",
                message_id=message_id,
                reason=str(exc),
                receive_count=(record.get("attributes") or {}).get("ApproximateReceiveCount"),
            )

    # Process: recompute and overwrite each hour.
    written = superseded = errors = deferred = coalesced = 0
    slowest_ms = 0.0
    ddb = clients.client("dynamodb") if jobs else None
    # Coalesce: a device sending every second enqueues a job per batch; every one whose readings the stored rollup
    # already saw is done without re-reading the hour (reads grew with the square of its rate). One BatchGetItem
    # for the batch's jobs that say when they were sent (the rest are recomputed anyway).
    known = [j for j, sent in sent_at.items() if sent is not None]
    stored_at = (
        store.computed_at_many(ddb, settings.rollups_table, known, remaining_ms=remaining_ms, log=log) if known else {}
    )
    for job, message_ids in jobs.items():
        if remaining_ms() < max(SAFETY_MARGIN_MS, JOB_TIME_MARGIN * slowest_ms):
            deferred += 1
            failed += message_ids
            continue
        job_started = time.perf_counter()
        try:
            stored = stored_at.get(job)
            sent = sent_at.get(job)
            if stored is not None and sent is not None and stored >= sent + CLOCK_SKEW_MARGIN_MS:
                coalesced += 1
                continue
            computed_at = int(time.time() * 1000)  # before the read: a newer read always wins (store.put_rollup)
            agg = aggregate(store.read_hour(ddb, settings.readings_table, job))
            if agg.count == 0:
                log.warning(
                    "no readings in the hour (expired or never written); rollup left as it is",
                    device_id=job.device_id,
                    hour_start=job.hour_start,
                )
                continue
            item = store.to_item(job, agg, computed_at=computed_at, ttl_days=settings.ttl_days)
            if store.put_rollup(ddb, settings.rollups_table, item):
                written += 1
            else:
                superseded += 1
        except (ClientError, BotoCoreError) as exc:
            errors += 1
            failed += message_ids
            log.error(
                "rollup failed; its messages are retried",
                device_id=job.device_id,
                hour_start=job.hour_start,
                error=str(exc),
                error_type=type(exc).__name__,
                message_ids=message_ids,
            )
        finally:
            slowest_ms = max(slowest_ms, (time.perf_counter() - job_started) * 1000)

    # Report.
    counts = {
        "JobsIn": len(records),
        "JobsMalformed": malformed,
        "RollupsWritten": written,
        "RollupsSuperseded": superseded,
        "JobsCoalesced": coalesced,
        "JobsFailed": errors + deferred,
    }
    metrics.emit(
        {
            **{name: (n, "Count") for name, n in counts.items()},
            "BatchLatency": (round((time.perf_counter() - started) * 1000, 3), "Milliseconds"),
        },
        function_name=getattr(context, "function_name", None),
        Environment=settings.environment,
    )
    if deferred:
        log.warning(
            "jobs handed back unstarted: too little time left for them",
            deferred=deferred,
            slowest_job_ms=round(slowest_ms, 1),
        )
    log.info("batch done", **counts, distinct_jobs=len(jobs), deferred=deferred, slowest_job_ms=round(slowest_ms, 1))
    return item_failures(failed)


def _sent_timestamp(record: dict) -> int | None:
    try:
        return int((record.get("attributes") or {})["SentTimestamp"])
    except (KeyError, TypeError, ValueError):
        return None  # unknown: recompute


def _receive_count(record: dict) -> int:
    try:
        return int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
    except (TypeError, ValueError):
        return 1
