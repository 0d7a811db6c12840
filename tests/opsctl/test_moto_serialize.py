"""The serializer cache and the attribute-value fast path (opsctl/sandbox/moto_serialize.py) change how fast moto
answers, never what it answers:
the same read requests, against the same moto state, give byte-identical response bodies with moto as released
and with the cache, on a cold cache and on a warm one."""

from __future__ import annotations

import base64
import json
import re

import boto3
import pytest
from moto import mock_aws

from opsctl.sandbox import moto_serialize

REGION = "us-east-1"


def _bodies(clients: dict, calls: list[tuple[str, str, dict]]) -> list[bytes]:
    """Each call's raw HTTP response body, as the client received it (before botocore parsed it), but for the
    request id that moto draws afresh for every response of the XML protocols."""
    seen: list[bytes] = []

    def keep(response_dict, **_):
        seen.append(response_dict["body"])

    out = []
    for service, op, kwargs in calls:
        client = clients[service]
        client.meta.events.register("before-parse", keep)
        try:
            getattr(client, op)(**kwargs)
        finally:
            client.meta.events.unregister("before-parse", keep)
        out.append(re.sub(rb"<RequestId>[^<]*</RequestId>", b"<RequestId/>", seen.pop()))
    return out


def _state(clients: dict) -> list[tuple[str, str, dict]]:
    """A little of every service the sandbox serves, with nested and binary values; returns the read calls."""
    ddb, sqs, kinesis, iam, s3, cw, kms, logs = (
        clients[k] for k in ("dynamodb", "sqs", "kinesis", "iam", "s3", "cloudwatch", "kms", "logs")
    )
    ddb.create_table(
        TableName="readings",
        KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "device_id", "AttributeType": "S"},
            {"AttributeName": "ts", "AttributeType": "N"},
            {"AttributeName": "tenant", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_tenant",
                "KeySchema": [
                    {"AttributeName": "tenant", "KeyType": "HASH"},
                    {"AttributeName": "ts", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    for i in range(30):
        ddb.put_item(
            TableName="readings",
            Item={
                "device_id": {"S": f"dev-{i % 3}"},
                "ts": {"N": str(1_700_000_000_000 + i)},
                "tenant": {"S": "acme"},
                "metrics": {"M": {"temp_c": {"N": str(20 + i / 10)}, "tags": {"L": [{"S": "a"}, {"BOOL": True}]}}},
                "raw": {"B": base64.b64encode(bytes([i, 255, 0]))},
                "seen": {"SS": ["x", "y"]},
                "nothing": {"NULL": True},
            },
        )
    ddb.put_item(  # the shapes at the edges of the attribute-value fast path (moto_serialize._attribute_value)
        TableName="readings",
        Item={
            "device_id": {"S": "dev-1"},
            "ts": {"N": "1"},
            "empty_m": {"M": {}},
            "empty_l": {"L": []},
            "empty_s": {"S": ""},
            "numbers": {"NS": ["1", "2.5", "-0.001"]},
            "nested": {"L": [{"M": {"a": {"L": [{"NULL": True}, {"BOOL": False}, {"N": "1e3"}]}}}, {"SS": ["q"]}]},
            "quoted": {"S": 'he said "hi" \\ é ✓ \n'},
            "blobs": {"BS": [b"\x00\x01", b"\xff"]},
            "deep_blob": {"M": {"b": {"B": b"\x00"}}},
        },
    )
    queue = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "18", "DelaySeconds": "0"})["QueueUrl"]
    sqs.create_queue(QueueName="jobs-dlq")
    for i in range(5):
        sqs.send_message(
            QueueUrl=queue,
            MessageBody=json.dumps({"job": i}),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "rollup"}},
        )
    kinesis.create_stream(StreamName="ingest", ShardCount=2)
    kinesis.put_records(
        StreamName="ingest", Records=[{"Data": f"r{i}".encode(), "PartitionKey": f"d{i}"} for i in range(10)]
    )
    iam.create_role(
        RoleName="ingest-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    iam.put_role_policy(
        RoleName="ingest-role",
        PolicyName="least",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
        ),
    )
    s3.create_bucket(Bucket="quarantine")
    for i in range(3):
        s3.put_object(Bucket="quarantine", Key=f"poison/{i}.json", Body=b"{}")
    cw.put_metric_data(
        Namespace="TelemetryPipeline",
        MetricData=[{"MetricName": "RecordsQuarantined", "Value": 2.0, "Unit": "Count", "Timestamp": 1_700_000_000}],
    )
    key = kms.create_key(Description="cmk")["KeyMetadata"]["KeyId"]
    logs.create_log_group(logGroupName="/aws/lambda/ingest")
    return [
        (  # first, so every pass reads the same state (it sets the same value each time)
            "dynamodb",
            "update_item",
            {
                "TableName": "readings",
                "Key": {"device_id": {"S": "dev-1"}, "ts": {"N": "1"}},
                "UpdateExpression": "SET seen_by = :v",
                "ExpressionAttributeValues": {":v": {"M": {"x": {"SS": ["a", "b"]}}}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        (
            "dynamodb",
            "query",
            {
                "TableName": "readings",
                "KeyConditionExpression": "device_id = :d",
                "ExpressionAttributeValues": {":d": {"S": "dev-1"}},
            },
        ),
        (
            "dynamodb",
            "query",
            {
                "TableName": "readings",
                "IndexName": "by_tenant",
                "KeyConditionExpression": "tenant = :t",
                "ExpressionAttributeValues": {":t": {"S": "acme"}},
                "Limit": 7,
            },
        ),
        ("dynamodb", "scan", {"TableName": "readings"}),
        (
            "dynamodb",
            "get_item",
            {"TableName": "readings", "Key": {"device_id": {"S": "dev-0"}, "ts": {"N": "1700000000000"}}},
        ),
        ("dynamodb", "get_item", {"TableName": "readings", "Key": {"device_id": {"S": "dev-1"}, "ts": {"N": "1"}}}),
        (
            "dynamodb",
            "batch_get_item",
            {
                "RequestItems": {
                    "readings": {
                        "Keys": [
                            {"device_id": {"S": "dev-1"}, "ts": {"N": "1"}},
                            {"device_id": {"S": "dev-2"}, "ts": {"N": "1700000000002"}},
                        ]
                    }
                }
            },
        ),
        ("dynamodb", "describe_table", {"TableName": "readings"}),
        ("sqs", "list_queues", {}),
        (
            "sqs",
            "get_queue_attributes",
            {"QueueUrl": queue, "AttributeNames": ["VisibilityTimeout", "QueueArn", "DelaySeconds"]},
        ),
        ("kinesis", "describe_stream", {"StreamName": "ingest"}),
        ("kinesis", "list_shards", {"StreamName": "ingest"}),
        ("iam", "get_role", {"RoleName": "ingest-role"}),
        ("iam", "get_role_policy", {"RoleName": "ingest-role", "PolicyName": "least"}),
        ("s3", "list_objects_v2", {"Bucket": "quarantine"}),
        ("cloudwatch", "list_metrics", {"Namespace": "TelemetryPipeline"}),
        ("kms", "describe_key", {"KeyId": key}),
        ("logs", "describe_log_groups", {}),
    ]


@pytest.fixture
def released_moto():
    moto_serialize.uninstall()
    try:
        yield
    finally:
        moto_serialize.install()  # as tests/conftest.py left it


def test_cached_answers_are_byte_identical_to_moto_as_released(released_moto):
    with mock_aws():
        clients = {
            s: boto3.client(s, region_name=REGION)
            for s in ("dynamodb", "sqs", "kinesis", "iam", "s3", "cloudwatch", "kms", "logs")
        }
        calls = _state(clients)
        released = _bodies(clients, calls)
        moto_serialize.install()
        cold = _bodies(clients, calls)
        warm = _bodies(clients, calls)
    assert all(released), "every call answered something"
    for (service, op, _), a, b, c in zip(calls, released, cold, warm, strict=True):
        assert a == b == c, f"{service} {op}: the cache changed the answer"


def test_install_is_idempotent_and_uninstall_restores_moto():
    from moto.core import serialize

    moto_serialize.install()
    patched = serialize.AttributePicker.get_possible_keys
    moto_serialize.install()
    assert serialize.AttributePicker.get_possible_keys is patched
    moto_serialize.uninstall()
    try:
        assert (
            serialize.AttributePicker.get_possible_keys is serialize.AttributePicker._sandbox_original_get_possible_keys
        )
    finally:
        moto_serialize.install()
