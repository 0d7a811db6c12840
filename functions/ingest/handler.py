"""Kinesis → telemetry table. Valid readings are written (idempotently, batched, retried); poison records
are quarantined in S3 and never block the shard; after the write, one rollup job per (device, hour) the
written readings touch goes onto the rollup queue. What could not be stored or enqueued is handed back to
Lambda as batchItemFailures so it is re-delivered. Handler string: `ingest.handler.handler`."""

from __future__ import annotations

import os
import time
from typing import NamedTuple

from common import clients, metrics, retry
from common.batch import item_failures
from common.log import Logger
from ingest import enqueue, quarantine, table
from ingest.validate import DEFAULT_MAX_AGE_DAYS, DEFAULT_MAX_FUTURE_SECONDS, Reading, check_identity, validate
from rollup.job import RollupJob, hour_start

DEFAULT_BUDGET_MS = 60_000  # when the context cannot say how much time is left (local callers)
sleep = time.sleep  # replaced by tests that drive a fake clock


class Settings(NamedTuple):
    table_name: str
    quarantine_bucket: str
    quarantine_prefix: str
    ttl_days: int
    max_age_days: int
    max_future_seconds: int
    rollup_queue_url: str
    environment: str | None

    @classmethod
    def from_environ(cls) -> Settings:
        env = os.environ
        return cls(
            table_name=env.get("TABLE_NAME", ""),
            quarantine_bucket=env.get("QUARANTINE_BUCKET", ""),
            quarantine_prefix=env.get("QUARANTINE_PREFIX") or "quarantine/",
            ttl_days=int(env.get("READING_TTL_DAYS") or 90),
            max_age_days=int(env.get("READING_MAX_AGE_DAYS") or DEFAULT_MAX_AGE_DAYS),
            max_future_seconds=int(env.get("READING_MAX_FUTURE_SECONDS") or DEFAULT_MAX_FUTURE_SECONDS),
            rollup_queue_url=env.get("ROLLUP_QUEUE_URL", ""),
            environment=env.get("ENVIRONMENT"),
        )


def handler(event, context):
    started = time.perf_counter()
    settings = Settings.from_environ()
    log = Logger(context, environment=settings.environment)
    remaining_ms = retry.remaining_ms(context, DEFAULT_BUDGET_MS)
    records = event.get("Records") or []

    # Parse: every record is a reading or a poison record.
    now_ms = int(time.time() * 1000)
    readings: list[tuple[str, Reading]] = []
    poison = []
    for record in records:
        result = validate(
            record["kinesis"]["data"],
            now_ms=now_ms,
            max_age_days=settings.max_age_days,
            max_future_seconds=settings.max_future_seconds,
        )
        if isinstance(result, Reading):  # identity from the partition key, never from the payload alone
            result = check_identity(result, record["kinesis"].get("partitionKey"))
        if isinstance(result, Reading):
            readings.append((record["kinesis"]["sequenceNumber"], result))
        else:
            poison.append((record, result))

    # Process: quarantine the poison, write the readings.
    failed: list[str] = []
    quarantined = 0
    if poison:
        if quarantine.put_batch(
            clients.client("s3"), settings.quarantine_bucket, settings.quarantine_prefix, poison, context, log
        ):
            quarantined = len(poison)
        else:
            failed += [record["kinesis"]["sequenceNumber"] for record, _ in poison]
    outcome, writes = table.WriteOutcome(), {}
    if readings:
        writes = table.plan(readings, settings.ttl_days)
        outcome = table.write(
            clients.client("dynamodb"),
            settings.table_name,
            writes,
            remaining_ms=remaining_ms,
            log=log,
            sleep=lambda s: sleep(s),
        )  # late-bound for tests
    failed += outcome.failed

    # Enqueue: one rollup job per (device, hour) of what is now in the table, only after the write.
    sent = enqueue.EnqueueOutcome()
    jobs = rollup_jobs(writes, outcome.written) if settings.rollup_queue_url else {}
    if jobs:
        sent = enqueue.enqueue(
            clients.client("sqs"),
            settings.rollup_queue_url,
            jobs,
            remaining_ms=remaining_ms,
            log=log,
            sleep=lambda s: sleep(s),
        )
        failed += sent.failed

    # Report.
    counts = {
        "RecordsIn": len(records),
        "RecordsWritten": len(outcome.written),
        "RecordsQuarantined": quarantined,
        "WriteRetries": outcome.retries,
        "RecordsFailed": len(set(failed)),
        "RollupJobsEnqueued": sent.sent,
        "RollupJobsFailed": sent.failed_jobs,
    }
    metrics.emit(
        {
            **{name: (n, "Count") for name, n in counts.items()},
            "BatchLatency": (round((time.perf_counter() - started) * 1000, 3), "Milliseconds"),
        },
        function_name=getattr(context, "function_name", None),
        Environment=settings.environment,
    )
    log.info("batch done", **counts, write_requests=outcome.requests, enqueue_requests=sent.requests)
    return item_failures(failed)


def rollup_jobs(writes: dict[table.Key, table.Write], written: list[str]) -> dict[RollupJob, list[str]]:
    """{job: sequence numbers of the written readings behind it}: one job per (device, hour), however many
    readings of that hour the batch wrote."""
    done = set(written)
    jobs: dict[RollupJob, list[str]] = {}
    for (device_id, ts), w in writes.items():
        if done.issuperset(w.sequence_numbers):
            jobs.setdefault(RollupJob(device_id, hour_start(ts)), []).extend(w.sequence_numbers)
    return jobs
