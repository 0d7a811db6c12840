"""The inputs of an event's bill read from the deployed stack, then capacity_report.event_cost does the arithmetic.

Configured values come from the functions and their event source mappings (memory, batch sizes); measured ones
from CloudWatch over the report's window (AWS/Lambda Duration per invocation, rollup jobs sent per reading
stored). What cannot be read is assumed, and the bill says so."""

from __future__ import annotations

import datetime as dt

from capacity_report import event_cost as ec

COST_READINGS = 1_000_000  # the bill is for this many readings at the event's rate
# Assumptions when nothing was measured (stated in the bill's `assumed` list):
DEFAULT_INGEST_MS_PER_BATCH = 100.0
DEFAULT_ROLLUP_MS_PER_BATCH = 100.0
DEFAULT_JOBS_PER_READING = 1.0  # the worst case: every reading of a batch in its own device-hour
DEFAULT_QUARANTINE_FRACTION = 0.001
DEFAULT_LOG_BYTES_PER_INVOCATION = 1500.0  # one JSON summary line + an EMF line + START/END/REPORT
DEFAULT_ROLLUP_READ_UNITS_PER_JOB = 2.0  # an hour of one-a-second readings ≈ 3,600 × 180 B ≈ 160 read units/4 KiB
AWS_REQUEST_MS = 8.0  # one in-Region DynamoDB or SQS request, for the one-put-per-record estimate


def _function(lambda_client, name: str | None) -> tuple[int, int | None]:
    """(memory MB, batch size of its first event source mapping)."""
    if not name:
        return 256, None
    config = lambda_client.get_function_configuration(FunctionName=name)
    mappings = [
        m
        for page in lambda_client.get_paginator("list_event_source_mappings").paginate()
        for m in page.get("EventSourceMappings", [])
        if m.get("FunctionArn") == config.get("FunctionArn")  # moto's FunctionName filter finds none
    ]
    return config.get("MemorySize", 128), (mappings[0].get("BatchSize") if mappings else None)


def _metric(cloudwatch, namespace: str, name: str, dims: dict, stat: str, start, end) -> float | None:
    resp = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=start,
        EndTime=end,
        Period=max(60, int((end - start).total_seconds()) // 60 * 60),
        Statistics=[stat],
    )
    points = resp.get("Datapoints", [])
    if not points:
        return None
    if stat == "Sum":
        return sum(p["Sum"] for p in points)
    total = sum(p.get("SampleCount", 1) for p in points)
    return sum(p[stat] * p.get("SampleCount", 1) for p in points) / total if total else None


def bill(stack, report: dict, *, rate_per_s: float, shards: int, prices: dict) -> dict:
    """Ours and the one-put-per-record design for COST_READINGS readings at `rate_per_s` on `shards` shards."""
    client = stack.target.client
    out = stack.outputs
    start = dt.datetime.fromisoformat(report["window"]["start"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(report["window"]["end"].replace("Z", "+00:00"))
    lam, cw = client("lambda"), client("cloudwatch")
    assumed: list[str] = []
    ingest_mb, ingest_batch = _function(lam, out.get("ingest_function_name"))
    rollup_mb, rollup_batch = _function(lam, out.get("rollup_function_name"))

    def duration(fn: str | None, default: float, what: str) -> float:
        ms = _metric(cw, "AWS/Lambda", "Duration", {"FunctionName": fn}, "Average", start, end) if fn else None
        if ms is None:
            assumed.append(f"{what} duration {default:g} ms per batch (no AWS/Lambda Duration in the window)")
            return default
        return ms

    ingest_ms = duration(out.get("ingest_function_name"), DEFAULT_INGEST_MS_PER_BATCH, "ingest")
    rollup_ms = duration(out.get("rollup_function_name"), DEFAULT_ROLLUP_MS_PER_BATCH, "rollup")
    s = report.get("stream") or {}
    jobs_per_reading = DEFAULT_JOBS_PER_READING
    queue = (out.get("rollup_queue_url") or "").rsplit("/", 1)[-1]
    sent = _metric(cw, "AWS/SQS", "NumberOfMessagesSent", {"QueueName": queue}, "Sum", start, end) if queue else None
    if sent and s.get("records_in_window"):
        jobs_per_reading = min(1.0, sent / s["records_in_window"])
    else:
        assumed.append(f"{DEFAULT_JOBS_PER_READING:g} rollup job per reading (no jobs or records in the window)")
    record_bytes = (s["bytes_in_window"] / s["records_in_window"]) if s.get("records_in_window") else 1024.0
    assumed += [
        f"{DEFAULT_QUARANTINE_FRACTION:.1%} poison readings",
        f"{DEFAULT_LOG_BYTES_PER_INVOCATION:,.0f} B of logs per invocation",
        f"{DEFAULT_ROLLUP_READ_UNITS_PER_JOB:g} read units per rollup job",
        f"one put per record: {AWS_REQUEST_MS:g} ms per DynamoDB or SQS request",
    ]
    ours = ec.DesignProfile(
        name="ours",
        ingest_batch_size=ingest_batch or 100,
        ingest_memory_mb=ingest_mb,
        ingest_ms_per_batch=ingest_ms,
        rollup_jobs_per_reading=jobs_per_reading,
        sqs_sends_per_job=0.1,  # SendMessageBatch of 10
        rollup_batch_size=rollup_batch or 10,
        rollup_memory_mb=rollup_mb,
        rollup_ms_per_batch=rollup_ms,
        rollup_read_units_per_job=DEFAULT_ROLLUP_READ_UNITS_PER_JOB,
        quarantine_fraction=DEFAULT_QUARANTINE_FRACTION,
        log_bytes_per_invocation=DEFAULT_LOG_BYTES_PER_INVOCATION,
    )
    # The same batch with a PutItem and a SendMessage per reading: two requests each, one after the other.
    design = ec.one_put_per_record(
        ours, ms_per_batch=ingest_ms + 2 * ours.ingest_batch_size * AWS_REQUEST_MS, rollup_ms_per_batch=rollup_ms
    )
    load = ec.EventLoad(COST_READINGS, rate_per_s, record_bytes, shards)
    return {**ec.compare(load, ours, design, prices), "assumed": assumed}
