"""`opsctl replay-dlq --source ingest` on the sandbox: the ingest consumer gave up on a batch (its on-failure
record, as Lambda writes it, lands in the queue Terraform made), and the replay runs the deployed ingest
function from the very zip Terraform deployed; the readings end up in the table, the queue empty."""

from __future__ import annotations

import json
import time

import pytest

from opsctl.sandbox.runtime.mapping import iso_millis

from .sandbox_harness import opsctl

# A group of its own: pytest-xdist runs the module on one worker, so its module fixtures run once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-replay")]


def test_a_failed_ingest_batch_is_replayed_into_the_table(sandbox):
    o = sandbox.outputs
    kinesis, sqs, table = sandbox.client("kinesis"), sandbox.client("sqs"), sandbox.client("dynamodb")
    now_ms = int(time.time() * 1000)
    device = f"replay-{now_ms}"
    records = [
        {
            "Data": json.dumps({"device_id": device, "ts": now_ms + i, "metrics": {"temp_c": 20 + i}}).encode(),
            "PartitionKey": device,
        }
        for i in range(6)
    ]
    put = kinesis.put_records(StreamName=o["stream_name"], Records=records)["Records"]
    assert len({r["ShardId"] for r in put}) == 1  # one partition key: one shard, in order
    arrived = iso_millis(time.time())
    sqs.send_message(
        QueueUrl=o["ingest_failure_queue_url"],
        MessageBody=json.dumps(
            {
                "requestContext": {
                    "requestId": "e2e",
                    "functionArn": o["ingest_function_arn"],
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": 3,
                },
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "version": "1.0",
                "timestamp": arrived,
                "KinesisBatchInfo": {
                    "shardId": put[0]["ShardId"],
                    "startSequenceNumber": put[0]["SequenceNumber"],
                    "endSequenceNumber": put[-1]["SequenceNumber"],
                    "approximateArrivalOfFirstRecord": arrived,
                    "approximateArrivalOfLastRecord": arrived,
                    "batchSize": 6,
                    "streamArn": o["stream_arn"],
                },
            }
        ),
    )

    def readings():
        return table.query(
            TableName=o["table_name"],
            KeyConditionExpression="device_id = :d",
            ExpressionAttributeValues={":d": {"S": device}},
        )["Items"]

    assert readings() == []
    listed = json.loads(opsctl(sandbox, "dlq", "list", "--output", "json").stdout)
    q = next(x for x in listed["queues"] if x["output"] == "ingest_failure_queue_url")
    assert listed["queues"][0] is q or q["expiry_level"] != "ok"
    assert q["failure_records"] >= 1 and q["records_referenced"] >= 6 and 0 < q["soonest_expiry_s"] <= 24 * 3600

    dry = json.loads(opsctl(sandbox, "replay-dlq", "--source", "ingest", "--dry-run", "--output", "json").stdout)
    assert dry["failure_messages"] >= 1 and readings() == []

    proc = opsctl(sandbox, "replay-dlq", "--source", "ingest", "--via", "invoke", "--yes", "--output", "json")
    report = json.loads(proc.stdout)
    assert report["replayed_messages"] >= 1 and report["failed"] == 0
    assert sorted(int(i["ts"]["N"]) for i in readings()) == [now_ms + i for i in range(6)]
    attrs = sqs.get_queue_attributes(
        QueueUrl=o["ingest_failure_queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_replay_of_a_queue_nobody_feeds_is_one_line(sandbox):
    proc = opsctl(sandbox, "replay-dlq", "--source", "no-such-queue", "--yes", check=False)
    assert proc.returncode == 1 and proc.stderr.strip().startswith("error: no such queue")
