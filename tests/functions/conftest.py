"""Fixtures for the Lambda handlers: moto's AWS with the real tables' key schemas, the quarantine bucket and
the rollup queue (with its DLQ), real-shaped Kinesis and SQS events, and a Lambda context whose clock the
test controls."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from common import clients

TABLE = "telemetry-test"
ROLLUP_TABLE = "telemetry-rollups-test"
ROLLUP_QUEUE = "telemetry-rollup-jobs-test"
ROLLUP_DLQ = "telemetry-rollup-jobs-test-dlq"
MAX_RECEIVE_COUNT = 3
BUCKET = "quarantine-test"
PREFIX = "quarantine/"
REGION = "us-east-1"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:123456789012:stream/telemetry-ingest-test"
SHARD = "shardId-000000000000"
FIRST_SEQUENCE = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898


@dataclass
class FakeContext:
    """What Lambda passes as `context`, with a clock the test moves (`remaining_ms`)."""

    remaining_ms: int = 60_000
    aws_request_id: str = "6bc28136-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
    function_name: str = "telemetry-ingest-test"
    log_stream_name: str = "2026/01/01/[$LATEST]abcdef0123456789"
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:telemetry-ingest-test"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def kinesis_record(
    data: bytes, seq: int, *, partition_key: str = "dev-0001", shard: str = SHARD, arrival: float | None = None
) -> dict:
    """One record exactly as Lambda's Kinesis event source mapping delivers it."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": str(seq),
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": arrival or time.time(),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard}:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/telemetry-ingest-test",
        "awsRegion": REGION,
        "eventSourceARN": STREAM_ARN,
    }


def kinesis_event(payloads: list, *, first_seq: int = FIRST_SEQUENCE, arrival: float | None = None) -> dict:
    """A batch of records from dicts (JSON-encoded), raw bytes, or traffic.Outgoing items. Sequence numbers ascend."""
    records = []
    for i, p in enumerate(payloads):
        if isinstance(p, bytes):
            data, key = p, "dev-x"
        elif isinstance(p, dict):
            data, key = json.dumps(p, separators=(",", ":")).encode(), str(p.get("device_id", "dev-x"))
        else:
            data, key = p.data, p.partition_key
        records.append(kinesis_record(data, first_seq + i, partition_key=str(key), arrival=arrival))
    return {"Records": records}


def reading(device: str = "dev-0001", ts: int | None = None, **metrics) -> dict:
    return {
        "device_id": device,
        "ts": ts if ts is not None else int(time.time() * 1000) - 5_000,
        "metrics": metrics or {"temp_c": 21.5, "humidity_pct": 40.0},
    }


@pytest.fixture
def env(monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    settings = {
        "TABLE_NAME": TABLE,
        "QUARANTINE_BUCKET": BUCKET,
        "QUARANTINE_PREFIX": PREFIX,
        "READING_TTL_DAYS": "90",
        "READING_MAX_AGE_DAYS": "365",
        "READING_MAX_FUTURE_SECONDS": "300",
        "LOG_LEVEL": "INFO",
        "METRICS_NAMESPACE": "TelemetryPipeline",
        "ENVIRONMENT": "test",
        "AWS_REGION": REGION,
    }
    for k, v in settings.items():
        monkeypatch.setenv(k, v)
    return settings


def sqs_record(
    body: str,
    *,
    message_id: str | None = None,
    receive_count: int = 1,
    queue_arn: str = f"arn:aws:sqs:{REGION}:123456789012:{ROLLUP_QUEUE}",
) -> dict:
    """One message exactly as Lambda's SQS event source mapping delivers it."""
    now_ms = str(int(time.time() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": base64.b64encode(uuid.uuid4().bytes * 4).decode(),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": now_ms,
            "SenderId": "AROAEXAMPLEID:telemetry-ingest-test",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(bodies: list[str]) -> dict:
    return {"Records": [sqs_record(b) for b in bodies]}


def _key_schema(hash_key: str, range_key: str) -> dict:
    return {
        "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"}, {"AttributeName": range_key, "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": hash_key, "AttributeType": "S"},
            {"AttributeName": range_key, "AttributeType": "N"},
        ],
    }


@pytest.fixture
def aws(env, monkeypatch):
    """moto's AWS with the telemetry table (device_id S hash, ts N range), the rollups table (device_id S hash,
    hour_start N range), the quarantine bucket, and the rollup queue with its DLQ (maxReceiveCount 3)."""
    clients.reset()  # clients made outside this mock would reach past it
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", **_key_schema("device_id", "ts"))
        ddb.create_table(
            TableName=ROLLUP_TABLE, BillingMode="PAY_PER_REQUEST", **_key_schema("device_id", "hour_start")
        )
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName=ROLLUP_DLQ)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName=ROLLUP_QUEUE,
            Attributes={
                "VisibilityTimeout": "0",  # a failed receive is visible again at once (the tests need no waiting)
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
            },
        )["QueueUrl"]
        monkeypatch.setenv("ROLLUP_QUEUE_URL", queue_url)
        monkeypatch.setenv("READINGS_TABLE_NAME", TABLE)
        monkeypatch.setenv("ROLLUP_TABLE_NAME", ROLLUP_TABLE)
        yield AwsView(ddb, s3, sqs, queue_url, dlq_url)
    clients.reset()


class AwsView:
    """What the handler left behind, read back the way an operator would."""

    def __init__(self, ddb, s3, sqs=None, queue_url=None, dlq_url=None):
        self.ddb, self.s3, self.sqs = ddb, s3, sqs
        self.queue_url, self.dlq_url = queue_url, dlq_url

    def receive(self, url: str | None = None, *, delete: bool = True) -> list[dict]:
        """Every message waiting on the queue (the rollup queue by default), deleted unless `delete` is False."""
        url = url or self.queue_url
        out = []
        while True:
            msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
                "Messages", []
            )
            if not msgs:
                return out
            out += msgs
            if delete:
                self.sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
                )

    def rollups(self) -> dict[tuple[str, int], dict]:
        out = {}
        for page in self.ddb.get_paginator("scan").paginate(TableName=ROLLUP_TABLE):
            for item in page["Items"]:
                out[(item["device_id"]["S"], int(item["hour_start"]["N"]))] = item
        return out

    def items(self) -> dict[tuple[str, int], dict]:
        out = {}
        for page in self.ddb.get_paginator("scan").paginate(TableName=TABLE):
            for item in page["Items"]:
                out[(item["device_id"]["S"], int(item["ts"]["N"]))] = item
        return out

    def quarantine(self) -> dict[str, list[dict]]:
        """{object key: the poison records in it} (one object per batch, one JSON line per record)."""
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX):
            for obj in page.get("Contents", []):
                text = self.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode()
                out[obj["Key"]] = [json.loads(line) for line in text.splitlines()]
        return out

    def quarantined_records(self) -> dict[str, dict]:
        """{sequence number: quarantined record} over every object."""
        return {r["sequence_number"]: r for records in self.quarantine().values() for r in records}


@pytest.fixture
def context():
    return FakeContext()


@pytest.fixture
def fake_clock(monkeypatch, context):
    """Sleeping in the handler moves the context's clock instead of the test's."""
    from ingest import handler

    slept = []

    def sleep(seconds):
        slept.append(seconds)
        context.remaining_ms -= int(seconds * 1000) + 1

    monkeypatch.setattr(handler, "sleep", sleep)
    return slept


def output_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def emf(lines: list[dict]) -> dict:
    found = [line for line in lines if "_aws" in line]
    assert len(found) == 1, f"one EMF line per invocation, got {len(found)}"
    return found[0]
