"""The sandbox's moto speed-ups change how fast moto answers, not what it answers: retention still hides expired
messages, the DLQ still gets what it should, and a Kinesis mapping is stored (ListEventSourceMappings sees it) but
moto no longer tries to run its function in Docker for every record put."""

from __future__ import annotations

import io
import time
import zipfile

import boto3
import pytest
from moto import mock_aws

from opsctl.sandbox import moto_speed

REGION = "us-east-1"


@pytest.fixture
def aws():
    moto_speed.apply()
    with mock_aws():
        yield lambda service: boto3.client(service, region_name=REGION)


def test_a_message_past_its_retention_period_is_never_received(aws):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    from moto.sqs.models import sqs_backends

    queue = sqs_backends["123456789012"][REGION].queues["short"]
    queue._messages[0].sent_timestamp = int((time.time() - 61) * 1000)  # sent 61 s ago: past 60 s of retention
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    sqs.send_message(QueueUrl=url, MessageBody="new")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in got] == ["new"]


def test_a_deep_queue_still_redrives_to_its_dlq_after_max_receive_count(aws):
    sqs = aws("sqs")
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="jobs",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"1"}}',
        },
    )["QueueUrl"]
    for start in range(0, 500, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"job-{start + i}"} for i in range(10)]
        )
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(first) == 10
    time.sleep(0.01)  # visibility timeout 0: they are visible again, with one receive each
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert {m["Body"] for m in moved} == {m["Body"] for m in first}


def test_a_kinesis_mapping_is_stored_but_moto_never_invokes_its_function(aws, monkeypatch):
    kinesis, lam, iam = aws("kinesis"), aws("lambda"), aws("iam")
    kinesis.create_stream(StreamName="readings", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="readings")["StreamDescription"]["StreamARN"]
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("h.py", "def handler(e, c):\n    return None\n")
    lam.create_function(
        FunctionName="ingest", Runtime="python3.12", Role=role, Handler="h.handler", Code={"ZipFile": code.getvalue()}
    )
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="ingest", StartingPosition="TRIM_HORIZON")[
        "UUID"
    ]
    from moto.awslambda.models import LambdaFunction

    invoked = []
    monkeypatch.setattr(LambdaFunction, "invoke", lambda self, *a, **k: invoked.append(self.function_name))
    kinesis.put_records(StreamName="readings", Records=[{"Data": b"{}", "PartitionKey": f"d{i}"} for i in range(5)])
    assert invoked == []
    assert [m["UUID"] for m in lam.list_event_source_mappings(FunctionName="ingest")["EventSourceMappings"]] == [uuid]
    shard = kinesis.list_shards(StreamName="readings")["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName="readings", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    assert len(kinesis.get_records(ShardIterator=it["ShardIterator"])["Records"]) == 5


def test_queue_counts_still_tell_visible_in_flight_and_delayed_apart(aws):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="counts", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)])
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]) == 2
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attrs["ApproximateNumberOfMessages"],
        attrs["ApproximateNumberOfMessagesNotVisible"],
        attrs["ApproximateNumberOfMessagesDelayed"],
    ) == ("3", "2", "1")
    assert {m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]} == {
        "m2",
        "m3",
        "m4",
    }


def _readings_table(ddb, more_attributes: list | None = None, **extra) -> None:
    """The telemetry table's key schema (device_id, ts), on demand, with any further attributes and indexes."""
    ddb.create_table(
        TableName="readings",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "device_id", "AttributeType": "S"},
            {"AttributeName": "ts", "AttributeType": "N"},
            *(more_attributes or []),
        ],
        **extra,
    )


def test_a_query_returns_its_partition_in_order_with_paging_and_indexes_still_work(aws):
    ddb = aws("dynamodb")
    _readings_table(
        ddb,
        [{"AttributeName": "site", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-site",
                "KeySchema": [
                    {"AttributeName": "site", "KeyType": "HASH"},
                    {"AttributeName": "ts", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for ts in (30, 10, 20, 50, 40):  # written out of order, over three devices
        for device in ("a", "b", "c"):
            ddb.put_item(
                TableName="readings",
                Item={"device_id": {"S": device}, "ts": {"N": str(ts)}, "site": {"S": f"site-{device}"}},
            )

    def query(**kw):
        return ddb.query(
            TableName="readings",
            KeyConditionExpression="device_id = :d AND ts BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":d": {"S": "b"}, ":lo": {"N": "20"}, ":hi": {"N": "50"}},
            **kw,
        )

    first = query(Limit=2)
    assert [int(i["ts"]["N"]) for i in first["Items"]] == [20, 30] and first["LastEvaluatedKey"]["ts"] == {"N": "30"}
    rest = query(Limit=2, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [int(i["ts"]["N"]) for i in rest["Items"]] == [40, 50]
    assert [int(i["ts"]["N"]) for i in query(ScanIndexForward=False)["Items"]] == [50, 40, 30, 20]
    assert {i["device_id"]["S"] for i in query()["Items"]} == {"b"}
    missing = ddb.query(
        TableName="readings", KeyConditionExpression="device_id = :d", ExpressionAttributeValues={":d": {"S": "zz"}}
    )
    assert missing["Items"] == []
    by_site = ddb.query(
        TableName="readings",
        IndexName="by-site",
        KeyConditionExpression="site = :s",
        ExpressionAttributeValues={":s": {"S": "site-c"}},
    )
    assert [int(i["ts"]["N"]) for i in by_site["Items"]] == [10, 20, 30, 40, 50]
    scanned = ddb.scan(TableName="readings")["Items"]
    assert len(scanned) == 15  # a Scan still sees every partition


def _read_all(kinesis, shard_id: str, iterator_type: str = "TRIM_HORIZON", limit: int = 7, **kw) -> list[bytes]:
    it = kinesis.get_shard_iterator(StreamName="readings", ShardId=shard_id, ShardIteratorType=iterator_type, **kw)
    it, out = it["ShardIterator"], []
    while True:
        resp = kinesis.get_records(ShardIterator=it, Limit=limit)
        out += [r["Data"] for r in resp["Records"]]
        if not resp["Records"]:
            return out
        it = resp["NextShardIterator"]


def test_kinesis_reads_page_through_a_shard_in_order_from_every_kind_of_iterator(aws):
    kinesis = aws("kinesis")
    kinesis.create_stream(StreamName="readings", ShardCount=1)
    sent = [f"r{i:03d}".encode() for i in range(50)]
    for start in range(0, 50, 20):  # several PutRecords calls: sequence numbers go on across calls
        resp = kinesis.put_records(
            StreamName="readings", Records=[{"Data": d, "PartitionKey": "k"} for d in sent[start : start + 20]]
        )
        assert resp["FailedRecordCount"] == 0
    seqs = [int(r["SequenceNumber"]) for r in resp["Records"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    shard = kinesis.list_shards(StreamName="readings")["Shards"][0]
    assert int(shard["SequenceNumberRange"]["StartingSequenceNumber"]) in (0, 1)
    assert _read_all(kinesis, shard["ShardId"]) == sent  # pages of 7: every record once, in order
    assert _read_all(kinesis, shard["ShardId"], limit=1000) == sent
    tenth = kinesis.get_records(
        ShardIterator=kinesis.get_shard_iterator(
            StreamName="readings", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"],
        Limit=10,
    )["Records"][-1]["SequenceNumber"]
    assert _read_all(kinesis, shard["ShardId"], "AT_SEQUENCE_NUMBER", StartingSequenceNumber=tenth) == sent[9:]
    assert _read_all(kinesis, shard["ShardId"], "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=tenth) == sent[10:]
    assert _read_all(kinesis, shard["ShardId"], "LATEST") == []
    latest = kinesis.get_shard_iterator(StreamName="readings", ShardId=shard["ShardId"], ShardIteratorType="LATEST")
    kinesis.put_record(StreamName="readings", Data=b"after", PartitionKey="k")
    after = kinesis.get_records(ShardIterator=latest["ShardIterator"])
    assert [r["Data"] for r in after["Records"]] == [b"after"] and after["MillisBehindLatest"] == 0


def test_kinesis_records_survive_a_split_and_a_merge_in_the_children(aws):
    kinesis = aws("kinesis")
    kinesis.create_stream(StreamName="readings", ShardCount=1)
    sent = [f"r{i}".encode() for i in range(12)]
    kinesis.put_records(StreamName="readings", Records=[{"Data": d, "PartitionKey": d.decode()} for d in sent])
    kinesis.update_shard_count(StreamName="readings", TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    shards = kinesis.list_shards(StreamName="readings")["Shards"]
    read = [d for s in shards for d in _read_all(kinesis, s["ShardId"])]
    assert set(sent) <= set(read)  # moto re-puts a split parent's records: none is lost
    kinesis.put_records(StreamName="readings", Records=[{"Data": b"late", "PartitionKey": "p"}])
    read = [d for s in kinesis.list_shards(StreamName="readings")["Shards"] for d in _read_all(kinesis, s["ShardId"])]
    assert b"late" in read


def test_kinesis_puts_and_reads_of_one_shard_from_many_threads_lose_nothing_and_never_fail(aws):
    """The moto server answers in threads: a read used to iterate a shard's records while a put appended to them
    ("OrderedDict mutated during iteration"). A reader slowed down inside its pass is overtaken by writers."""
    import threading

    from moto.kinesis import models

    kinesis = aws("kinesis")
    kinesis.create_stream(StreamName="readings", ShardCount=1)
    kinesis.put_records(StreamName="readings", Records=[{"Data": b"first", "PartitionKey": "k"}])
    original_record = models.Record.__init__

    def slow_record(self, *args, **kwargs):  # widens the window in which a put holds the shard
        time.sleep(0.001)
        original_record(self, *args, **kwargs)

    models.Record.__init__ = slow_record
    errors: list[BaseException] = []

    def put(n: int) -> None:
        try:
            for i in range(5):
                kinesis.put_records(
                    StreamName="readings",
                    Records=[{"Data": f"{n}-{i}-{j}".encode(), "PartitionKey": "k"} for j in range(20)],
                )
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    shard = kinesis.list_shards(StreamName="readings")["Shards"][0]["ShardId"]
    try:
        writers = [threading.Thread(target=put, args=(n,)) for n in range(4)]
        for w in writers:
            w.start()
        seen: list[bytes] = []
        it = kinesis.get_shard_iterator(StreamName="readings", ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while any(w.is_alive() for w in writers):
            resp = kinesis.get_records(ShardIterator=it, Limit=50)
            seen += [r["Data"] for r in resp["Records"]]
            it = resp["NextShardIterator"]
        for w in writers:
            w.join()
        while True:
            resp = kinesis.get_records(ShardIterator=it, Limit=50)
            if not resp["Records"]:
                break
            seen += [r["Data"] for r in resp["Records"]]
            it = resp["NextShardIterator"]
    finally:
        models.Record.__init__ = original_record
    assert errors == []
    assert len(seen) == len(set(seen)) == 1 + 4 * 5 * 20


def test_sending_still_deduplicates_on_content_in_fifo_queues_and_attributes_stay_whole(aws):
    sqs = aws("sqs")
    fifo = sqs.create_queue(
        QueueName="jobs.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    plain = sqs.create_queue(QueueName="jobs", Attributes={"DelaySeconds": "0"})["QueueUrl"]
    for _ in range(2):  # the same body twice: one message on a content-deduplicated FIFO queue
        sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
    sqs.send_message_batch(
        QueueUrl=plain, Entries=[{"Id": str(i), "MessageBody": "same"} for i in range(3)]
    )  # a standard queue keeps all three
    got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["same"]
    attrs = sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "3" and attrs["DelaySeconds"] == "0"
    assert "QueueArn" in attrs and "MessageRetentionPeriod" in attrs
    fifo_attrs = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["All"])["Attributes"]
    assert fifo_attrs["ContentBasedDeduplication"] == "true" and fifo_attrs["FifoQueue"] == "true"


def test_the_backend_of_a_host_is_the_one_moto_finds_and_a_request_still_reaches_it(capsys):
    """The server's backend per Host header is remembered (moto_speed.backend_per_host_remembered): the answer for
    every host the sandbox's clients send, and for hosts no backend serves, is moto's own; an unknown
    amazonaws.com host still gets moto's hint every time."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_speed.apply()
    original = DomainDispatcherApplication._sandbox_original_get_backend_for_host
    services = ["dynamodb", "sqs", "kinesis", "lambda", "iam", "sts", "kms", "logs", "monitoring", "events", "sns"]
    hosts = [f"{s}.{REGION}.amazonaws.com" for s in services] + [
        "s3.amazonaws.com",
        f"s3.{REGION}.amazonaws.com",
        "quarantine-bucket.s3.amazonaws.com",
        "iot.us-east-1.amazonaws.com",
        "data-ats.iot.us-east-1.amazonaws.com",
        "cognito-idp.us-east-1.amazonaws.com",
        "apigateway.us-east-1.amazonaws.com",
        "127.0.0.1:5000",
        "localhost",
        "moto_api",
        "dynamodb",
        None,
    ]
    app = DomainDispatcherApplication(create_backend_app)
    expected = {host: original(app, host) for host in hosts}
    assert expected[f"dynamodb.{REGION}.amazonaws.com"] == "dynamodb" and expected["127.0.0.1:5000"] is None
    for _ in range(2):  # the second time from what was remembered
        assert {host: app.get_backend_for_host(host) for host in hosts} == expected
    capsys.readouterr()
    for _ in range(2):
        assert app.get_backend_for_host("nothing-here.us-east-1.amazonaws.com") is None
    assert capsys.readouterr().out.count("Unable to find appropriate backend") == 2

    # a request to 127.0.0.1 is routed by its signature, as moto does it
    environ = {
        "PATH_INFO": "/",
        "HTTP_HOST": "127.0.0.1:5000",
        "REQUEST_METHOD": "POST",
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKIA/20261202/us-east-1/dynamodb/aws4_request, x",
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.ListTables",
        "wsgi.input": io.BytesIO(b"{}"),
        "CONTENT_LENGTH": "2",
        "CONTENT_TYPE": "application/x-amz-json-1.0",
    }
    assert app.get_application(dict(environ)) is app.app_instances["dynamodb"]
    assert app.get_application(dict(environ)) is app.app_instances["dynamodb"]


def test_deleting_from_a_deep_queue_by_current_or_old_handle_keeps_the_rest_in_order(aws):
    """Queue.delete_message in one pass (moto_speed.delete_in_one_pass): a message goes by the handle of its latest
    receive or of an earlier one, deleting twice is accepted, an unknown handle is refused, and the others stay,
    in order, each received once more."""
    from botocore.exceptions import ClientError

    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="deep", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for start in range(0, 300, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"job-{start + i:03d}"} for i in range(10)]
        )
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    time.sleep(0.01)  # visible again (timeout 0): the same ten received a second time, with new handles
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again] == [m["Body"] for m in first]
    assert [m["ReceiptHandle"] for m in again] != [m["ReceiptHandle"] for m in first]
    old_handles = {"Id": "old", "ReceiptHandle": first[0]["ReceiptHandle"]}  # job-000 by its first handle
    new_handles = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(again[1:5])]
    done = sqs.delete_message_batch(QueueUrl=url, Entries=[old_handles, *new_handles])
    assert sorted(s["Id"] for s in done["Successful"]) == ["0", "1", "2", "3", "old"] and not done.get("Failed")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])  # job-000 again, by its newer handle
    with pytest.raises(ClientError) as refused:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"].replace("a", "b", 1) + "x")
    assert refused.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    time.sleep(0.01)
    left = []
    while page := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages"):
        left += [m["Body"] for m in page]
    assert left == [f"job-{i:03d}" for i in range(300) if i not in range(5)]


def test_a_projection_of_top_level_attributes_answers_as_moto_does_and_nested_paths_still_work(aws, monkeypatch):
    from moto.dynamodb.models import dynamo_type

    ddb = aws("dynamodb")
    ddb.create_table(
        TableName="things",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["m"]},
            }
        ],
    )
    for sk in range(4):
        ddb.put_item(
            TableName="things",
            Item={
                "pk": {"S": "p"},
                "sk": {"N": str(sk)},
                "g": {"S": "G"},
                "m": {"M": {"temp_c": {"N": "21.5"}, "tags": {"L": [{"S": "a"}, {"BOOL": True}, {"NULL": True}]}}},
                "ss": {"SS": ["only"]},
                "b": {"B": b"\x00\x01"},
                "n": {"N": "-12"},
                "left_out": {"S": "x" * 100},
            },
        )

    def answers() -> list:
        calls = [
            {"ProjectionExpression": "#s, m, n, b, ss", "ExpressionAttributeNames": {"#s": "sk"}},
            {"ProjectionExpression": "m, nope"},  # a name no item has
            {"ProjectionExpression": "m.temp_c, m.tags[1], n"},  # nested and indexed paths: moto's own code
            {"ProjectionExpression": "m", "Limit": 2, "ScanIndexForward": False},
        ]
        out = [
            ddb.query(
                TableName="things",
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "p"}},
                **kw,
            )["Items"]
            for kw in calls
        ]
        out.append(
            ddb.query(
                TableName="things",
                IndexName="by-g",
                KeyConditionExpression="g = :g",
                ExpressionAttributeValues={":g": {"S": "G"}},
            )["Items"]
        )
        out.append(
            ddb.get_item(TableName="things", Key={"pk": {"S": "p"}, "sk": {"N": "1"}}, ProjectionExpression="n, b")[
                "Item"
            ]
        )
        out.append(ddb.scan(TableName="things", ProjectionExpression="pk, sk")["Items"])
        return out

    fast = answers()
    assert fast[0][0] == {
        "sk": {"N": "0"},
        "m": {"M": {"temp_c": {"N": "21.5"}, "tags": {"L": [{"S": "a"}, {"BOOL": True}, {"NULL": True}]}}},
        "n": {"N": "-12"},
        "b": {"B": b"\x00\x01"},
        "ss": {"SS": ["only"]},
    }
    assert fast[2][0] == {"m": {"M": {"temp_c": {"N": "21.5"}, "tags": {"L": [{"BOOL": True}]}}}, "n": {"N": "-12"}}
    assert all("left_out" not in item for item in fast[4])  # the index's INCLUDE projection still applies
    monkeypatch.setattr(dynamo_type.Item, "project", dynamo_type.Item._sandbox_original_project)
    assert answers() == fast
    # The stored items are untouched by what their projections were given.
    whole = ddb.get_item(TableName="things", Key={"pk": {"S": "p"}, "sk": {"N": "0"}})["Item"]
    assert whole["left_out"] == {"S": "x" * 100} and whole["m"]["M"]["temp_c"] == {"N": "21.5"}


def test_a_query_by_range_key_condition_answers_as_moto_does_through_writes_overwrites_and_deletes(aws, monkeypatch):
    """Each partition keeps its range keys in order and a Query bisects them: the answers (items, order, pages,
    counts) must be moto's own, for every operator, both key types, and after the partition changed."""
    import random

    from moto.dynamodb.models import table as tables

    ddb = aws("dynamodb")
    for name, kind in (("by_n", "N"), ("by_s", "S")):
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": kind},
            ],
        )
    rng = random.Random(7)
    numbers = [str(n) for n in rng.sample(range(-500, 500), 120)] + ["0.5", "-0.25", "1e2", "3.000"]
    words = sorted({"".join(rng.choice("abc") for _ in range(rng.randint(1, 4))) for _ in range(150)})
    keys = {"by_n": ("N", numbers), "by_s": ("S", words)}

    def write(table: str, sk: str, v: int) -> None:
        ddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {keys[table][0]: sk}, "v": {"N": str(v)}})

    def answers() -> list:
        out = []
        for table, (kind, values) in keys.items():
            a, b = sorted(rng.sample(values, 2), key=float if kind == "N" else str)
            conditions = [
                ("sk = :a", {":a": a}),
                ("sk < :a", {":a": a}),
                ("sk <= :a", {":a": a}),
                ("sk > :a", {":a": a}),
                ("sk >= :a", {":a": a}),
                ("sk BETWEEN :a AND :b", {":a": a, ":b": b}),
                ("sk BETWEEN :b AND :a", {":a": a, ":b": b}),  # an empty range
                ("sk = :a", {":a": "999" if kind == "N" else "zzzz"}),  # no such key
            ]
            if kind == "S":
                conditions += [("begins_with(sk, :a)", {":a": a[:1]}), ("begins_with(sk, :a)", {":a": "ab"})]
            for condition, values_ in conditions:
                for forward in (True, False):
                    args = {
                        "TableName": table,
                        "KeyConditionExpression": f"pk = :p AND {condition}",
                        "ExpressionAttributeValues": {":p": {"S": "p"}, **{k: {kind: v} for k, v in values_.items()}},
                        "ScanIndexForward": forward,
                        "Limit": 7,
                    }
                    pages = []
                    while True:
                        page = ddb.query(**args)
                        pages.append((page["Items"], page["Count"], page["ScannedCount"], page.get("LastEvaluatedKey")))
                        if "LastEvaluatedKey" not in page:
                            break
                        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
                    out.append(pages)
        return out

    for table, (_, values) in keys.items():
        for i, sk in enumerate(values):
            write(table, sk, i)
    fast = []
    for step in range(3):  # after writes, then overwrites and new keys, then deletes
        state = rng.getstate()
        fast.append(answers())
        rng.setstate(state)
        with monkeypatch.context() as m:
            m.setattr(tables.Table, "query", tables.Table._sandbox_original_query)
            m.setattr(tables.Table, "all_items", tables.Table._sandbox_original_all_items)
            slow = answers()
        differ = [i for i, (x, y) in enumerate(zip(slow, fast[-1], strict=True)) if x != y]
        assert slow == fast[-1], f"step {step}: queries {differ} answer otherwise than moto as released"
        for table, (kind, values) in keys.items():
            for sk in rng.sample(values, 20):
                if step == 0:
                    write(table, sk, -1)  # an overwrite
                else:
                    ddb.delete_item(TableName=table, Key={"pk": {"S": "p"}, "sk": {kind: sk}})
                    values.remove(sk)
            if step == 0:
                extra = [str(n) for n in range(1000, 1010)] if kind == "N" else ["aaaaa", "cc", "ba"]
                for sk in extra:
                    if sk not in values:
                        values.append(sk)
                        write(table, sk, 1)
    assert any(len(pages) > 1 for pages in fast[0]) and any(pages[0][0] == [] for pages in fast[0])
    assert sum(page[1] for pages in fast[0] for page in pages) > 200  # the conditions matched plenty


def test_puts_into_one_partition_from_many_threads_keep_every_query_whole_and_in_order(aws, monkeypatch):
    """The moto server answers in threads and a function writes one device's readings in concurrent calls: the
    partition's key order must never fall out of step with its items. A slowed bisection widens the window."""
    import bisect
    import threading

    ddb = aws("dynamodb")
    _readings_table(ddb)

    def query(lo: int, hi: int) -> list[int]:
        items = ddb.query(
            TableName="readings",
            KeyConditionExpression="device_id = :d AND ts BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":d": {"S": "d"}, ":lo": {"N": str(lo)}, ":hi": {"N": str(hi)}},
        )["Items"]
        return [int(i["ts"]["N"]) for i in items]

    ddb.put_item(TableName="readings", Item={"device_id": {"S": "d"}, "ts": {"N": "-1"}})
    query(-1, -1)  # the partition's order now exists, so every put below goes through the bisection
    real_bisect = bisect.bisect_left

    def slow_bisect(*args, **kwargs):
        time.sleep(0.0005)
        return real_bisect(*args, **kwargs)

    monkeypatch.setattr(bisect, "bisect_left", slow_bisect)
    errors: list[BaseException] = []
    seen: list[list[int]] = []

    def put(n: int) -> None:
        try:
            for i in range(40):
                ddb.put_item(TableName="readings", Item={"device_id": {"S": "d"}, "ts": {"N": str(i * 8 + n)}})
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    writers = [threading.Thread(target=put, args=(n,)) for n in range(8)]
    for w in writers:
        w.start()
    while any(w.is_alive() for w in writers):
        seen.append(query(0, 1_000))
    for w in writers:
        w.join()
    assert errors == []
    assert query(-1, 1_000) == list(range(-1, 320))
    assert query(100, 199) == list(range(100, 200))
    assert seen and all(s == sorted(s) and len(s) == len(set(s)) for s in seen)
