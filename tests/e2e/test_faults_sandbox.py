"""`opsctl sandbox fault` on the whole sandbox: a window of DynamoDB 500s on the readings table while devices send.
The deployed ingest function retries its writes; what it could not write before its retries ran out goes back to
Lambda (batchItemFailures), whose mapping retries it and, past its retries, hands it to the on-failure queue;
`opsctl replay-dlq --source ingest` brings that back. Every reading ends up in the table exactly once."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request

import pytest

from opsctl.sandbox import cw_metrics

from .sandbox_harness import opsctl

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-faults")]

FAULT_S = 20  # seconds of 500s: longer than the function's first write attempts, shorter than its time budget


def _sum(sandbox, namespace: str, metric: str, dimensions: dict[str, str], since: dt.datetime) -> float:
    urllib.request.urlopen(urllib.request.Request(sandbox.endpoint + cw_metrics.FLUSH_PATH, method="POST")).read()
    points = sandbox.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=since.replace(second=0, microsecond=0),
        EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(p["Sum"] for p in points)


def test_a_dynamodb_error_window_is_retried_and_no_reading_is_lost(sandbox):
    o = sandbox.outputs
    opsctl(sandbox, "sandbox", "run", "--until-idle")  # whatever earlier modules left on the stream
    since = dt.datetime.now(dt.UTC)
    kinesis, ddb = sandbox.client("kinesis"), sandbox.client("dynamodb")
    now_ms = int(time.time() * 1000)
    device = f"fault-{now_ms}"
    readings = [{"device_id": device, "ts": now_ms + i, "metrics": {"temp_c": 20 + i % 5}} for i in range(12)]

    started = json.loads(
        opsctl(sandbox, "sandbox", "fault", "dynamodb-error", "--seconds", str(FAULT_S), "--output", "json").stdout
    )["started"]
    assert started["kind"] == "dynamodb-error" and started["target"] == o["table_name"]  # the default target
    status = json.loads(opsctl(sandbox, "sandbox", "status", "--output", "json").stdout)
    assert [(f["kind"], f["target"]) for f in status["faults"]] == [("dynamodb-error", o["table_name"])]

    resp = kinesis.put_records(
        StreamName=o["stream_name"],
        Records=[{"Data": json.dumps(r).encode(), "PartitionKey": device} for r in readings],
    )
    assert resp["FailedRecordCount"] == 0
    run = json.loads(opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json").stdout)
    ingest = next(m for m in run["mappings"] if m["function_name"] == o["ingest_function_name"])
    assert ingest["records_delivered"] >= len(readings)

    # The fault bit: the table answered 500 and the function retried (its own EMF count of write retries).
    assert (
        _sum(
            sandbox,
            "AWS/DynamoDB",
            "SystemErrors",
            {"TableName": o["table_name"], "Operation": "BatchWriteItem"},
            since,
        )
        > 0
    )
    assert _sum(sandbox, "TelemetryPipeline", "WriteRetries", {"FunctionName": o["ingest_function_name"]}, since) > 0
    assert json.loads(opsctl(sandbox, "sandbox", "status", "--output", "json").stdout)["faults"] == []  # over

    # Whatever the mapping gave up on is on the failure queue; the runbook's replay brings it back.
    opsctl(sandbox, "replay-dlq", "--source", "ingest", "--yes")
    opsctl(sandbox, "sandbox", "run", "--until-idle")
    items = ddb.query(
        TableName=o["table_name"],
        KeyConditionExpression="device_id = :d",
        ExpressionAttributeValues={":d": {"S": device}},
    )["Items"]
    assert sorted(int(i["ts"]["N"]) for i in items) == [r["ts"] for r in readings]
    left = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=o["ingest_failure_queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert int(left) == 0
