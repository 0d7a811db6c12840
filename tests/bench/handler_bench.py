"""Bench rows for the ingest handler against tests/bench/naive_ingest.py, measured in the same run.

- CPU µs per record with DynamoDB answered in-process: both handlers' boto3 clients get a `before-call`
  hook that returns success at once (as botocore's Stubber does), so parameter validation and
  serialisation count but the network does not;
- DynamoDB requests per 100 records, counted by the same hook;
- rollup jobs and SQS requests per 100 records (SQS answered by the same kind of hook), against the naive way of
  enqueueing (one SendMessage per record);
- import time over `import boto3`, in fresh interpreters."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
for p in (FUNCTIONS, ROOT, Path(__file__).resolve().parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

MEASURED: dict = {}  # what run_handler_bench measured, for the cost row (tests/bench/cost_bench.py)
CPU_RECORDS = 2_000
BATCH_SIZE = 100  # the Kinesis event source mapping's default
CPU_REPEATS = 5
IMPORT_REPEATS = 7
ENV = {
    "TABLE_NAME": "telemetry-bench",
    "QUARANTINE_BUCKET": "quarantine-bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "LOG_LEVEL": "INFO",
    "ROLLUP_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/rollup-bench",
}


class InstantDynamoDB:
    """A botocore `before-call` hook: every DynamoDB call succeeds at once and is counted."""

    def __init__(self):
        self.calls = 0

    def __call__(self, model, params, **kwargs):
        from botocore.awsrequest import AWSResponse

        self.calls += 1
        return AWSResponse(None, 200, {}, None), ({"UnprocessedItems": {}} if model.name == "BatchWriteItem" else {})


class InstantSqs:
    """botocore hooks: every SendMessageBatch succeeds at once (`before-call`); requests and entries are counted
    (entries from the API parameters, `before-parameter-build`)."""

    def __init__(self):
        self.calls = 0
        self.entries = 0

    def register(self, client) -> None:
        client.meta.events.register("before-parameter-build.sqs.SendMessageBatch", self.count_entries)
        client.meta.events.register("before-call.sqs", self)

    def count_entries(self, params, **kwargs):
        self.entries += len(params.get("Entries", []))

    def __call__(self, model, params, **kwargs):
        from botocore.awsrequest import AWSResponse

        self.calls += 1
        return AWSResponse(None, 200, {}, None), {"Successful": [], "Failed": []}


def _events(records: int, batch_size: int) -> list[dict]:
    from opsctl.sandbox import traffic

    readings = traffic.readings(20, records, seed=5)
    events = []
    for start in range(0, records, batch_size):
        batch = []
        for n, r in enumerate(readings[start : start + batch_size], start=start):
            seq = str(49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898 + n)
            batch.append(
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": r["device_id"],
                        "sequenceNumber": seq,
                        "data": base64.b64encode(json.dumps(r, separators=(",", ":")).encode()).decode(),
                        "approximateArrivalTimestamp": time.time(),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": f"shardId-000000000000:{seq}",
                    "eventName": "aws:kinesis:record",
                    "awsRegion": "us-east-1",
                    "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
                    "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/bench",
                }
            )
        events.append({"Records": batch})
    return events


class _Context:
    aws_request_id = "bench"
    function_name = "telemetry-ingest-bench"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis():
        return 60_000


@contextlib.contextmanager
def _stubbed_handlers():
    """(ours, naive, counter): both handlers with DynamoDB answered in-process, stdout silenced."""
    import boto3
    from naive_ingest import handler as naive

    from common import clients
    from ingest.handler import handler as ours

    saved = {k: os.environ.get(k) for k in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    counter = InstantDynamoDB()
    clients.reset()
    clients.client("dynamodb").meta.events.register("before-call.dynamodb", counter)
    counter.sqs = InstantSqs()
    counter.sqs.register(clients.client("sqs"))
    boto3.setup_default_session()  # the naive handler's boto3.resource() uses the default session
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", counter)
    # The naive handler's SendMessage per record, answered and counted the same way (one entry each).
    boto3.DEFAULT_SESSION.events.register("before-call.sqs", counter.sqs)
    boto3.DEFAULT_SESSION.events.register(
        "before-parameter-build.sqs.SendMessage", lambda **kw: setattr(counter.sqs, "entries", counter.sqs.entries + 1)
    )
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            yield ours, naive, counter
    finally:
        clients.reset()
        boto3.DEFAULT_SESSION = None
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cpu_us_per_record(handler, events) -> float:
    handler(events[0], _Context())  # warm: first client, first regex compile
    runs = []
    for _ in range(CPU_REPEATS):
        start = time.process_time()
        for event in events:
            handler(event, _Context())
        runs.append((time.process_time() - start) / CPU_RECORDS * 1e6)
    return statistics.median(runs)


def _requests_per_100(handler, counter) -> int:
    event = _events(100, 100)[0]
    before = counter.calls
    handler(event, _Context())
    return counter.calls - before


def _import_ms(statement: str) -> float:
    """Median wall time of `statement` in a fresh interpreter that has already imported boto3.

    No bytecode cache, as on Lambda: the zip carries only .py files and /var/task is read-only."""
    code = "import time, boto3\nt = time.perf_counter()\n" + statement + "\nprint((time.perf_counter() - t) * 1000)"
    env = {
        **os.environ,
        **ENV,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([str(FUNCTIONS), str(Path(__file__).resolve().parent)]),
    }
    runs = [
        float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
        for _ in range(IMPORT_REPEATS)
    ]
    return statistics.median(runs)


def run_handler_bench() -> list[dict]:
    events = _events(CPU_RECORDS, BATCH_SIZE)
    with _stubbed_handlers() as (ours, naive, counter):
        cpu = {"ours": _cpu_us_per_record(ours, events), "naive": _cpu_us_per_record(naive, events)}
        req = {"ours": _requests_per_100(ours, counter), "naive": _requests_per_100(naive, counter)}
        jobs, sqs_requests = {}, {}
        for label, handler in (("ours", ours), ("naive", naive)):
            before_calls, before_entries = counter.sqs.calls, counter.sqs.entries
            handler(_events(100, 100)[0], _Context())
            jobs[label] = counter.sqs.entries - before_entries
            sqs_requests[label] = counter.sqs.calls - before_calls
    imp = {"ours": _import_ms("import ingest.handler"), "naive": _import_ms("import naive_ingest")}
    MEASURED.update(cpu_us_per_record=cpu, requests_per_100=req, jobs_per_100=jobs, sqs_requests_per_100=sqs_requests)
    return [
        {
            "metric": f"ingest CPU per record, DynamoDB stubbed ({CPU_RECORDS} records, batches of {BATCH_SIZE})",
            "unit": "µs",
            **cpu,
            "ratio": cpu["naive"] / cpu["ours"],
        },
        {
            "metric": "DynamoDB requests per 100 records (goal ≤5)",
            "unit": "requests",
            **req,
            "ratio": req["naive"] / req["ours"],
        },
        {
            "metric": "rollup jobs enqueued per 100 records (20 devices; naive: one per record)",
            "unit": "jobs",
            **jobs,
            "ratio": jobs["naive"] / jobs["ours"],
        },
        {
            "metric": "SQS requests per 100 records (naive: one SendMessage per record)",
            "unit": "requests",
            **sqs_requests,
            "ratio": sqs_requests["naive"] / sqs_requests["ours"],
        },
        {
            "metric": "handler import over `import boto3`, no .pyc as on Lambda (goal ≤25)",
            "unit": "ms",
            **imp,
            "ratio": imp["naive"] / imp["ours"] if imp["ours"] else None,
        },
    ]


if __name__ == "__main__":
    for row in run_handler_bench():
        print(row)
