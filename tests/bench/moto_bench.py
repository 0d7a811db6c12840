"""Bench rows: moto as released vs moto as the sandbox runs it (opsctl.sandbox.moto_speed and moto_serialize),
in-process, same run.

- SQS ReceiveMessage (10 at a time), DeleteMessageBatch of those and SendMessageBatch on a queue already holding
  QUEUE_DEPTH rollup jobs;
- DynamoDB Query of one device-hour on a table holding TABLE_ITEMS readings of TABLE_DEVICES devices;
- the server's choice of backend for a request to 127.0.0.1 (every sandbox request), per 100 requests;
- a Query answering PAGE_ITEMS readings (moto writing DynamoDB attribute values).
Stock moto is measured first: the sandbox's patches, once applied, stay for the process."""

from __future__ import annotations

import statistics
import time

QUEUE_DEPTH = 1_000  # stock moto's SendMessage is O(queue), so filling a deeper queue takes minutes
TABLE_DEVICES, TABLE_ITEMS = 50, 20_000
SAMPLES = 10
PAGE_ITEMS = 100


def create_readings_table(ddb) -> None:
    """The readings table's keys (device_id, ts), on demand: what every DynamoDB row here reads."""
    ddb.create_table(
        TableName="readings",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "device_id", "AttributeType": "S"},
            {"AttributeName": "ts", "AttributeType": "N"},
        ],
    )


def batch_write(ddb, items: list[dict]) -> None:
    """PutRequests into the readings table, 25 (BatchWriteItem's most) a call."""
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={"readings": items[start : start + 25]})


def _sqs_ms() -> tuple[float, float, float]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
        for start in range(0, QUEUE_DEPTH, 10):
            sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f'{{"n":{start + i}}}'} for i in range(10)]
            )
        receive, send, delete = [], [], []
        for _ in range(SAMPLES):
            t = time.perf_counter()
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
            receive.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
            )
            delete.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "{}"} for i in range(10)])
            send.append((time.perf_counter() - t) * 1000)
        return statistics.median(receive), statistics.median(send), statistics.median(delete)


def _query_ms() -> float:
    import boto3
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_readings_table(ddb)
        per_device = TABLE_ITEMS // TABLE_DEVICES
        items = [
            {"PutRequest": {"Item": {"device_id": {"S": f"dev-{d:04d}"}, "ts": {"N": str(i * 60_000)}}}}
            for d in range(TABLE_DEVICES)
            for i in range(per_device)
        ]
        batch_write(ddb, items)
        runs = []
        for n in range(SAMPLES):
            t = time.perf_counter()
            ddb.query(
                TableName="readings",
                KeyConditionExpression="device_id = :d AND ts BETWEEN :lo AND :hi",
                ExpressionAttributeValues={
                    ":d": {"S": f"dev-{n:04d}"},
                    ":lo": {"N": "0"},
                    ":hi": {"N": str(3_600_000 - 1)},
                },
            )
            runs.append((time.perf_counter() - t) * 1000)
        return statistics.median(runs)


def _dispatch_ms() -> float:
    """The moto server's choice of backend for one request to 127.0.0.1 (a DynamoDB call, routed by its
    signature), as every request of the sandbox is: median of SAMPLES × 100 choices, in ms per 100."""
    import io

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    environ = {
        "PATH_INFO": "/",
        "HTTP_HOST": "127.0.0.1:5000",
        "REQUEST_METHOD": "POST",
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKIA/20261202/us-east-1/dynamodb/aws4_request, x",
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.GetItem",
        "CONTENT_LENGTH": "2",
        "CONTENT_TYPE": "application/x-amz-json-1.0",
    }
    runs = []
    for _ in range(SAMPLES):
        t = time.perf_counter()
        for _ in range(100):
            app.get_application({**environ, "wsgi.input": io.BytesIO(b"{}")})
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


def _page_ms() -> float:
    """A Query answering PAGE_ITEMS readings of one device with four metrics each (a read API page, a rollup
    worker's hour): median ms, most of it moto writing the response."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_readings_table(ddb)
        metrics = ("temp_c", "humidity_pct", "battery_v", "rssi_dbm")
        items = [
            {
                "PutRequest": {
                    "Item": {
                        "device_id": {"S": "dev-0001"},
                        "ts": {"N": str(1_700_000_000_000 + i * 1000)},
                        "expires_at": {"N": str(1_700_000_000 + i + 90 * 86400)},
                        "metrics": {"M": {m: {"N": f"{i % 40}.{j}"} for j, m in enumerate(metrics)}},
                    }
                }
            }
            for i in range(PAGE_ITEMS)
        ]
        batch_write(ddb, items)
        runs = []
        for _ in range(SAMPLES):
            t = time.perf_counter()
            ddb.query(
                TableName="readings",
                KeyConditionExpression="device_id = :d",
                ExpressionAttributeValues={":d": {"S": "dev-0001"}},
            )
            runs.append((time.perf_counter() - t) * 1000)
        return statistics.median(runs)


def run_moto_bench() -> list[dict]:
    from opsctl.sandbox import moto_serialize, moto_speed

    moto_serialize.uninstall()  # as released (a test session may have installed it in this process)
    stock = (*_sqs_ms(), _query_ms(), _dispatch_ms(), _page_ms())
    moto_speed.apply()
    moto_serialize.install()
    ours = (*_sqs_ms(), _query_ms(), _dispatch_ms(), _page_ms())
    names = (
        f"moto SQS ReceiveMessage (10) on a queue of {QUEUE_DEPTH:,} jobs (naive = moto as released)",
        f"moto SQS SendMessageBatch (10) on a queue of {QUEUE_DEPTH:,} jobs (naive = moto as released)",
        f"moto SQS DeleteMessageBatch (10) on a queue of {QUEUE_DEPTH:,} jobs (naive = moto as released)",
        f"moto DynamoDB Query of one device-hour, table of {TABLE_ITEMS:,} readings (naive = moto as released)",
        "moto server: choosing the backend of 100 requests to 127.0.0.1 (naive = moto as released)",
        f"moto DynamoDB Query answering {PAGE_ITEMS} readings of 4 metrics (naive = moto as released)",
    )
    return [
        {"metric": name, "unit": "ms", "ours": o, "naive": s, "ratio": s / o if o else None}
        for name, o, s in zip(names, ours, stock, strict=True)
    ]
