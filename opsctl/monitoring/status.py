"""One screen of the pipeline's health: stream, event source mappings, queues, table, alarms firing.

Returns plain data; the CLI renders it. A part that cannot be read is reported in place (with the
error) instead of hiding the rest of the screen."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from opsctl.stream.reshard import open_shards


def _safe(fn):
    try:
        return fn()
    except Exception as exc:
        from opsctl.core.errors import aws_error_line

        line = aws_error_line(exc)
        if line is not None:
            return {"error": line}
        raise


def stream_status(kinesis, stream: str) -> dict:
    s = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    return {
        "name": stream,
        "arn": s["StreamARN"],
        "status": s["StreamStatus"],
        "mode": s.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED"),
        "open_shards": len(open_shards(kinesis, stream)),
        "retention_hours": s["RetentionPeriodHours"],
        "encryption": s.get("EncryptionType", "NONE"),
        "kms_key": s.get("KeyId"),
    }


def mappings_status(lambda_client, stream_arn: str) -> list[dict]:
    out, marker = [], None
    while True:
        resp = lambda_client.list_event_source_mappings(
            EventSourceArn=stream_arn, **({"Marker": marker} if marker else {})
        )
        for m in resp.get("EventSourceMappings", []):
            out.append(
                {
                    "uuid": m["UUID"],
                    "function": m["FunctionArn"].split(":function:")[-1],
                    "state": m.get("State"),
                    "batch_size": m.get("BatchSize"),
                    "batching_window_s": m.get("MaximumBatchingWindowInSeconds"),
                    "parallelization_factor": m.get("ParallelizationFactor", 1),
                    "maximum_retry_attempts": m.get("MaximumRetryAttempts"),
                    "bisect": m.get("BisectBatchOnFunctionError"),
                    "maximum_record_age_s": m.get("MaximumRecordAgeInSeconds"),
                    "on_failure": (m.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination"),
                }
            )
        marker = resp.get("NextMarker")
        if not marker:
            return out


def queue_status(sqs, cloudwatch, name: str, url: str, now: dt.datetime) -> dict:
    qname = url.rstrip("/").rsplit("/", 1)[-1]
    try:
        return _queue_status(sqs, cloudwatch, name, url, now)
    except Exception as exc:
        from opsctl.core.errors import aws_error_line

        line = aws_error_line(exc)
        if line is None:
            raise
        return {"output": name, "queue": qname, "error": line}


def _queue_status(sqs, cloudwatch, name: str, url: str, now: dt.datetime) -> dict:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    qname = url.rstrip("/").rsplit("/", 1)[-1]
    # SQS has no attribute for the oldest message's age and peeking would bump receive counts (and
    # push messages towards the DLQ): read CloudWatch's ApproximateAgeOfOldestMessage instead.
    dps = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": qname}],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now,
        Period=300,
        Statistics=["Maximum"],
    ).get("Datapoints", [])
    oldest = max((d["Maximum"] for d in dps), default=None)
    redrive = attrs.get("RedrivePolicy")
    return {
        "output": name,
        "queue": qname,
        "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "oldest_age_s": oldest,
        "retention_s": int(attrs.get("MessageRetentionPeriod", 0)),
        "has_dlq": bool(redrive),
        "is_dlq": name.endswith("_dlq_url"),
        "encrypted": bool(attrs.get("KmsMasterKeyId") or attrs.get("SqsManagedSseEnabled") == "true"),
    }


def table_status(dynamodb, table: str) -> dict:
    t = dynamodb.describe_table(TableName=table)["Table"]
    billing = t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    pt = t.get("ProvisionedThroughput", {})
    return {
        "name": table,
        "status": t["TableStatus"],
        "billing_mode": billing,
        "read_capacity": pt.get("ReadCapacityUnits") if billing == "PROVISIONED" else None,
        "write_capacity": pt.get("WriteCapacityUnits") if billing == "PROVISIONED" else None,
        "decreases_today": pt.get("NumberOfDecreasesToday") if billing == "PROVISIONED" else None,
        "item_count": t.get("ItemCount"),
        "size_bytes": t.get("TableSizeBytes"),
    }


def alarms_firing(cloudwatch) -> list[dict]:
    out = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(StateValue="ALARM"):
        for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            out.append(
                {
                    "name": a["AlarmName"],
                    "reason": a.get("StateReason", ""),
                    "since": str(a.get("StateUpdatedTimestamp", "")),
                }
            )
    return out


# The whole screen waits this long, seconds, for its slowest part; a part that has not answered by then is shown as
# unreadable (each call has its own connect and read timeouts too: opsctl.core.aws). A screen that hangs on one
# slow API is worse in an incident than a screen with one part missing.
STATUS_TIMEOUT_S = 15.0


def collect(stack, *, timeout_s: float | None = None) -> dict:
    """The whole screen for `stack` (an opsctl.core.stack.Stack): its independent parts read at the same time.

    Each part is read in a thread of its own (the stream and then its mappings, each queue, the table, the alarms),
    so the screen costs its slowest part rather than the sum; a part still unanswered after `timeout_s`
    (default STATUS_TIMEOUT_S) is `{"error": "no answer within ..."}`, like any other unreadable part."""
    t = stack.target
    now = dt.datetime.now(dt.UTC)
    # the rollup DLQ is named *_dlq_url: on the one screen too, its depth is what on-call needs first
    queue_outputs = [
        (k, v) for k, v in sorted(stack.outputs.items()) if (k.endswith("_queue_url") or k.endswith("_dlq_url")) and v
    ]
    stream_name, table_name = stack.get("stream_name"), stack.get("table_name")  # a missing output: one clear error

    def stream_and_mappings():
        stream = _safe(lambda: stream_status(t.client("kinesis"), stream_name))
        mappings = _safe(lambda: mappings_status(t.client("lambda"), stream["arn"])) if "arn" in stream else []
        return stream, mappings

    parts: dict[str, Callable[[], object]] = {
        "stream": stream_and_mappings,
        "table": lambda: _safe(lambda: table_status(t.client("dynamodb"), table_name)),
        "alarms": lambda: _safe(lambda: alarms_firing(t.client("cloudwatch"))),
    }

    def reads_queue(name: str, url: str) -> Callable[[], object]:
        return lambda: queue_status(t.client("sqs"), t.client("cloudwatch"), name, url, now)

    for k, v in queue_outputs:
        parts[f"queue:{k}"] = reads_queue(k, v)
    limit = STATUS_TIMEOUT_S if timeout_s is None else timeout_s
    done = concurrently(parts, limit)

    def answer(name, unanswered):
        result = done[name]
        if isinstance(result, BaseException):
            raise result  # an OpsError (a missing output) or a bug: as if it had run here
        return unanswered if result is _UNANSWERED else result

    late = {"error": f"no answer within {limit:g} s"}
    stream, mappings = answer("stream", (late, []))
    queues = [
        answer(f"queue:{k}", {"output": k, "queue": v.rstrip("/").rsplit("/", 1)[-1], **late}) for k, v in queue_outputs
    ]
    return {
        "environment": stack.env,
        "stream": stream,
        "mappings": mappings,
        "queues": queues,
        "table": answer("table", late),
        "alarms": answer("alarms", late),
    }


_UNANSWERED = object()


def concurrently(calls: dict, timeout_s: float) -> dict:
    """{name: result, or the exception it raised, or _UNANSWERED} of every call run in its own thread, waiting at
    most `timeout_s` in all. The threads are daemons: a call that hangs past the limit never holds up the exit."""
    import threading

    results: dict = {}
    lock = threading.Lock()
    finished = threading.Semaphore(0)

    def run(name, fn):
        try:
            value = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller, which re-raises it
            value = exc
        with lock:
            results[name] = value
        finished.release()

    for name, fn in calls.items():
        threading.Thread(target=run, args=(name, fn), name=f"status-{name}", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    for _ in calls:
        if not finished.acquire(timeout=max(0.0, deadline - time.monotonic())):
            break
    with lock:
        return {name: results.get(name, _UNANSWERED) for name in calls}
