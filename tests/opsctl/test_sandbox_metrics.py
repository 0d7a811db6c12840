"""The sandbox's moto server measures DynamoDB requests by DynamoDB's rounding rules, throttles a PROVISIONED table
as DynamoDB does, and publishes AWS/DynamoDB and AWS/SQS metrics of what it served (opsctl.sandbox.dynamodb_capacity,
opsctl.sandbox.sqs_metrics, opsctl.sandbox.cw_metrics). Each test uses tables and queues of its own on one server."""

from __future__ import annotations

import datetime as dt
import time
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from opsctl.core.aws import AwsTarget
from opsctl.sandbox import server
from opsctl.sandbox.dynamodb_capacity import BURST_S, item_size, number_size, read_units, write_units

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("sandbox-metrics")
    state = server.start(state_dir=state_dir)
    try:
        yield state
    finally:
        server.stop(state_dir)


@pytest.fixture(scope="module")
def aws(sandbox):
    target = AwsTarget(endpoint_url=sandbox.endpoint, sandbox=True)
    return target.client("dynamodb"), target.client("cloudwatch"), target.client("sqs")


def _without_retries(sandbox):
    """A DynamoDB client that shows the first answer (boto3 would retry a throttled request itself)."""
    target = AwsTarget(endpoint_url=sandbox.endpoint, sandbox=True)
    return target.session.create_client(
        "dynamodb", region_name=target.region, endpoint_url=sandbox.endpoint, config=NO_RETRIES
    )


def _flush(sandbox) -> None:
    request = urllib.request.Request(f"{sandbox.endpoint}/_sandbox/metrics/flush", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _stats(cloudwatch, namespace: str, metric: str, dimensions: dict[str, str]) -> dict[str, float]:
    """Sum and SampleCount over the last hour (every minute together)."""
    now = dt.datetime.now(dt.UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(minutes=2),
        Period=3600 * 2,
        Statistics=["Sum", "SampleCount", "Maximum"],
    )["Datapoints"]
    return {
        "Sum": sum(p["Sum"] for p in points),
        "SampleCount": sum(p["SampleCount"] for p in points),
        "Maximum": max((p["Maximum"] for p in points), default=0.0),
    }


def _table(ddb, name: str, *, rcu: int | None = None, wcu: int | None = None, gsi: bool = False) -> None:
    keys = [{"AttributeName": "device_id", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}]
    attrs = [{"AttributeName": "device_id", "AttributeType": "S"}, {"AttributeName": "ts", "AttributeType": "N"}]
    extra: dict = {}
    if gsi:
        attrs.append({"AttributeName": "tenant", "AttributeType": "S"})
        index = {
            "IndexName": "by-tenant",
            "KeySchema": [
                {"AttributeName": "tenant", "KeyType": "HASH"},
                {"AttributeName": "device_id", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        if rcu is not None:
            index["ProvisionedThroughput"] = {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}
        extra["GlobalSecondaryIndexes"] = [index]
    if rcu is None:
        extra["BillingMode"] = "PAY_PER_REQUEST"
    else:
        extra["ProvisionedThroughput"] = {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}
    ddb.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attrs, **extra)


def _reading(device: str, ts: int, padding: int = 0) -> dict:
    item = {
        "device_id": {"S": device},
        "ts": {"N": str(ts)},
        "metrics": {"M": {"temp_c": {"N": "21.5"}, "humidity_pct": {"N": "40"}}},
    }
    if padding:
        item["blob"] = {"S": "x" * padding}
    return item


# --- the rules, on their own --------------------------------------------------------------------------------------


def test_item_size_follows_dynamodbs_rules():
    assert number_size("21.5") == 3  # 3 significant digits: 2 bytes + 1
    assert number_size("1000") == 2  # trailing zeros trimmed: "1"
    assert number_size("-0.000123") == 3
    reading = _reading("dev-1", 1_700_000_000_123)
    # device_id + "dev-1"; ts + 13 significant digits (7 + 1); metrics + map (3) + per element 1 + name + number;
    # "40" is one significant digit (1 + 1)
    assert item_size(reading) == (9 + 5) + (2 + 8) + (7 + 3 + (1 + 6 + 3) + (1 + 12 + 2))
    assert item_size({"ok": {"BOOL": True}, "n": {"NULL": True}, "b": {"B": "AAEC"}}) == (2 + 1) + (1 + 1) + (1 + 3)
    assert item_size({"s": {"SS": ["ab", "c"]}, "l": {"L": [{"S": "é"}]}}) == (1 + 3) + (1 + 3 + 1 + 2)


def test_units_round_up_per_operation():
    assert [write_units(n) for n in (0, 1, 1024, 1025, 3000)] == [1, 1, 1, 2, 3]
    assert read_units(0, consistent=False) == 0.5  # nothing found still costs the minimum
    assert read_units(4096, consistent=True) == 1.0
    assert read_units(4097, consistent=True) == 2.0
    assert read_units(4097, consistent=False) == 1.0


# --- consumed capacity, as the metrics show it --------------------------------------------------------------------


def test_written_and_read_units_sum_exactly_by_the_rounding_rules(sandbox, aws):
    ddb, cloudwatch, _ = aws
    _table(ddb, "units")
    small = [_reading("dev-a", i) for i in range(20)]  # ~60 bytes: 1 WCU each
    large = [_reading("dev-b", i, padding=1500) for i in range(5)]  # ~1.56 KB: 2 WCU each
    answer = ddb.batch_write_item(
        RequestItems={"units": [{"PutRequest": {"Item": it}} for it in small + large]}, ReturnConsumedCapacity="TOTAL"
    )
    assert answer["UnprocessedItems"] == {}
    assert answer["ConsumedCapacity"][0]["CapacityUnits"] == 20 * 1 + 5 * 2
    # PutItem over a 2 WCU item with a small one: the larger of the two counts
    ddb.put_item(TableName="units", Item=_reading("dev-b", 0))
    # Query sums what it read, then rounds once: 5 items of ~1.56 KB = ~7.8 KB -> 2 x 4 KB, halved (eventual)
    query = ddb.query(
        TableName="units",
        KeyConditionExpression="device_id = :d",
        ExpressionAttributeValues={":d": {"S": "dev-b"}},
        FilterExpression="attribute_exists(nothing_has_this)",  # filtered out, still read
        ReturnConsumedCapacity="TOTAL",
    )
    assert query["Count"] == 0 and query["ScannedCount"] == 5
    sizes = [item_size(_reading("dev-b", 0))] + [item_size(it) for it in large[1:]]
    expected_query = read_units(sum(sizes), consistent=False)
    assert query["ConsumedCapacity"]["CapacityUnits"] == expected_query
    ddb.get_item(TableName="units", Key={"device_id": {"S": "nobody"}, "ts": {"N": "1"}}, ConsistentRead=True)
    _flush(sandbox)

    written = _stats(cloudwatch, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", {"TableName": "units"})
    assert written["Sum"] == 30 + 2 and written["SampleCount"] == 2  # two requests: the batch and the put
    read = _stats(cloudwatch, "AWS/DynamoDB", "ConsumedReadCapacityUnits", {"TableName": "units"})
    assert read["Sum"] == expected_query + 1.0 and read["SampleCount"] == 2
    # an on-demand table is measured, never throttled; its minute still says so from real data
    assert _stats(cloudwatch, "AWS/DynamoDB", "WriteThrottleEvents", {"TableName": "units"})["Sum"] == 0
    throttled = _stats(cloudwatch, "AWS/DynamoDB", "ThrottledRequests", {"TableName": "units", "Operation": "Query"})
    assert throttled["Sum"] == 0 and throttled["SampleCount"] >= 1


def test_gsi_writes_consume_the_indexs_capacity_by_what_changed_in_it(sandbox, aws):
    ddb, cloudwatch, _ = aws
    _table(ddb, "indexed", gsi=True)
    item = {**_reading("dev-g", 1), "tenant": {"S": "acme"}}
    ddb.put_item(TableName="indexed", Item=item)  # enters the index: 1
    ddb.update_item(
        TableName="indexed",
        Key={"device_id": {"S": "dev-g"}, "ts": {"N": "1"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "active"}},
    )  # a projected attribute changed: 1
    ddb.update_item(
        TableName="indexed",
        Key={"device_id": {"S": "dev-g"}, "ts": {"N": "1"}},
        UpdateExpression="SET tenant = :t",
        ExpressionAttributeValues={":t": {"S": "globex"}},
    )  # the index key changed: delete + put = 2
    ddb.put_item(TableName="indexed", Item=_reading("dev-h", 1))  # no tenant: not in the index, 0
    _flush(sandbox)
    index = {"TableName": "indexed", "GlobalSecondaryIndexName": "by-tenant"}
    assert _stats(cloudwatch, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", index)["Sum"] == 4
    table = _stats(cloudwatch, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", {"TableName": "indexed"})
    assert table["Sum"] == 4 and table["SampleCount"] == 4  # the table's own, not the index's


# --- throttling ---------------------------------------------------------------------------------------------------


def test_a_write_larger_than_the_burst_can_ever_hold_is_refused(sandbox, aws):
    ddb, cloudwatch, _ = aws
    _table(ddb, "tiny", rcu=1, wcu=1)
    strict = _without_retries(sandbox)
    huge = _reading("dev-t", 1, padding=(BURST_S + 10) * 1024)  # > 300 WCU: a 1 WCU table never holds that much
    with pytest.raises(ClientError) as refused:
        strict.put_item(TableName="tiny", Item=huge)
    assert refused.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert "provisioned throughput for the table was exceeded" in refused.value.response["Error"]["Message"]
    assert "Item" not in ddb.get_item(TableName="tiny", Key={"device_id": {"S": "dev-t"}, "ts": {"N": "1"}})
    _flush(sandbox)
    assert _stats(cloudwatch, "AWS/DynamoDB", "WriteThrottleEvents", {"TableName": "tiny"})["Sum"] == 1
    requests = {"TableName": "tiny", "Operation": "PutItem"}
    assert _stats(cloudwatch, "AWS/DynamoDB", "ThrottledRequests", requests)["Sum"] == 1


def test_batch_write_returns_throttled_items_unprocessed_and_fails_only_when_all_are(sandbox, aws):
    ddb, cloudwatch, _ = aws
    _table(ddb, "batchy", rcu=1, wcu=1)
    strict = _without_retries(sandbox)
    time.sleep(4.0)  # the bucket starts empty; 4 s at 1 WCU/s hold the three 1 WCU items below
    small = [_reading("dev-s", i) for i in range(3)]
    huge = [_reading("dev-h", i, padding=(BURST_S + 10) * 1024) for i in range(2)]  # more than the bucket ever holds
    answer = strict.batch_write_item(RequestItems={"batchy": [{"PutRequest": {"Item": it}} for it in small + huge]})
    unprocessed = answer["UnprocessedItems"]["batchy"]
    assert [r["PutRequest"]["Item"]["device_id"]["S"] for r in unprocessed] == ["dev-h", "dev-h"]
    stored = ddb.query(
        TableName="batchy", KeyConditionExpression="device_id = :d", ExpressionAttributeValues={":d": {"S": "dev-s"}}
    )
    assert stored["Count"] == 3
    with pytest.raises(ClientError) as refused:
        strict.batch_write_item(RequestItems={"batchy": unprocessed})
    assert refused.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    _flush(sandbox)
    assert _stats(cloudwatch, "AWS/DynamoDB", "WriteThrottleEvents", {"TableName": "batchy"})["Sum"] == 4
    requests = {"TableName": "batchy", "Operation": "BatchWriteItem"}
    assert _stats(cloudwatch, "AWS/DynamoDB", "ThrottledRequests", requests)["Sum"] == 2


def test_batch_get_reads_each_key_as_a_get_item_of_its_own(sandbox, aws):
    ddb, cloudwatch, _ = aws
    _table(ddb, "gets")
    small = [_reading("dev-a", i) for i in range(3)]  # ~60 bytes: 1 RCU consistent, 0.5 eventual
    large = [_reading("dev-b", i, padding=5000) for i in range(2)]  # ~5 KB: 2 RCU consistent, 1 eventual
    for item in small + large:
        ddb.put_item(TableName="gets", Item=item)
    keys = [{"device_id": it["device_id"], "ts": it["ts"]} for it in small + large]
    keys.append({"device_id": {"S": "nobody"}, "ts": {"N": "1"}})  # nothing found still costs the minimum
    consistent = ddb.batch_get_item(
        RequestItems={"gets": {"Keys": keys, "ConsistentRead": True}}, ReturnConsumedCapacity="TOTAL"
    )
    assert len(consistent["Responses"]["gets"]) == 5 and consistent["UnprocessedKeys"] == {}
    assert consistent["ConsumedCapacity"] == [{"TableName": "gets", "CapacityUnits": 8.0, "ReadCapacityUnits": 8.0}]
    eventual = ddb.batch_get_item(RequestItems={"gets": {"Keys": keys}})  # each item rounded on its own, halved
    assert len(eventual["Responses"]["gets"]) == 5 and "ConsumedCapacity" not in eventual
    _flush(sandbox)
    read = _stats(cloudwatch, "AWS/DynamoDB", "ConsumedReadCapacityUnits", {"TableName": "gets"})
    assert read["Sum"] == 8.0 + 4.0 and read["SampleCount"] == 2


def test_batch_get_returns_throttled_keys_unprocessed_and_fails_only_when_all_are(sandbox, aws):
    ddb, cloudwatch, _ = aws
    _table(ddb, "getty", rcu=1, wcu=1000)
    strict = _without_retries(sandbox)
    small = _reading("dev-s", 1)  # 1 RCU
    large = [_reading("dev-l", i, padding=39_000) for i in range(2)]  # ~39 KB: 10 RCU each
    for item in [small, *large]:
        ddb.put_item(TableName="getty", Item=item)
    keys = [{"device_id": it["device_id"], "ts": it["ts"]} for it in [small, *large]]
    time.sleep(1.5)  # the bucket starts empty at creation: from 1 to 10 units now, enough for the small key only
    answer = strict.batch_get_item(RequestItems={"getty": {"Keys": keys, "ConsistentRead": True}})
    assert [it["device_id"]["S"] for it in answer["Responses"]["getty"]] == ["dev-s"]
    assert answer["UnprocessedKeys"]["getty"]["Keys"] == keys[1:]
    assert answer["UnprocessedKeys"]["getty"]["ConsistentRead"] is True  # ready to send again as it is
    with pytest.raises(ClientError) as refused:
        strict.batch_get_item(RequestItems=answer["UnprocessedKeys"])
    assert refused.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    _flush(sandbox)
    assert _stats(cloudwatch, "AWS/DynamoDB", "ReadThrottleEvents", {"TableName": "getty"})["Sum"] == 4
    requests = {"TableName": "getty", "Operation": "BatchGetItem"}
    assert _stats(cloudwatch, "AWS/DynamoDB", "ThrottledRequests", requests)["Sum"] == 2
    assert _stats(cloudwatch, "AWS/DynamoDB", "ConsumedReadCapacityUnits", {"TableName": "getty"})["Sum"] == 1.0


def test_a_table_switched_to_provisioned_starts_its_burst_at_the_switch(sandbox, aws):
    """On demand for a while, then PROVISIONED at 1 WCU: its bucket holds what it left unused since the switch, not
    since it was created (opsctl/sandbox/table_capacity.py stamps the switch)."""
    ddb, cloudwatch, _ = aws
    _table(ddb, "switched")
    strict = _without_retries(sandbox)
    two_units = _reading("dev-w", 1, padding=1200)  # over 1 KB: 2 WCU
    time.sleep(3.0)  # 3 s on demand: a bucket counted from the creation would hold 3 units at the switch
    ddb.update_table(
        TableName="switched",
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    with pytest.raises(ClientError) as refused:
        strict.put_item(TableName="switched", Item=two_units)
    assert refused.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    time.sleep(2.5)  # 2.5 s at 1 WCU/s since the switch hold the 2 units
    strict.put_item(TableName="switched", Item=two_units)
    assert "Item" in ddb.get_item(TableName="switched", Key={"device_id": {"S": "dev-w"}, "ts": {"N": "1"}})
    _flush(sandbox)
    assert _stats(cloudwatch, "AWS/DynamoDB", "WriteThrottleEvents", {"TableName": "switched"})["Sum"] == 1


def test_ingest_survives_throttling_with_every_reading_written(sandbox, aws):
    """The ingest function's own writer against a fresh 20 WCU table: 150 readings need 150 WCU, the empty bucket
    holds far less, so DynamoDB refuses part of the batches; ingest retries them until every reading is in."""
    from decimal import Decimal

    from ingest import table as ingest_table
    from ingest.validate import Reading

    ddb, cloudwatch, _ = aws
    _table(ddb, "ingest-throttled", rcu=5, wcu=20)
    readings = [(str(i), Reading("dev-i", 1_700_000_000_000 + i, {"temp_c": Decimal(20 + i % 7)})) for i in range(150)]
    writes = ingest_table.plan(readings, ttl_days=7)

    class Log:
        def __init__(self):
            self.warnings = 0

        def warning(self, *a, **k):
            self.warnings += 1

        def error(self, *a, **k):
            raise AssertionError(f"ingest gave up: {a} {k}")

    log = Log()
    deadline = time.monotonic() + 120
    outcome = ingest_table.write(
        ddb, "ingest-throttled", writes, remaining_ms=lambda: int((deadline - time.monotonic()) * 1000), log=log
    )
    assert outcome.failed == [] and len(outcome.written) == 150
    assert log.warnings > 0 and outcome.retries > 0  # it was throttled, and retried
    count = ddb.query(
        TableName="ingest-throttled",
        KeyConditionExpression="device_id = :d",
        ExpressionAttributeValues={":d": {"S": "dev-i"}},
        Select="COUNT",
    )
    assert count["Count"] == 150
    _flush(sandbox)
    assert _stats(cloudwatch, "AWS/DynamoDB", "WriteThrottleEvents", {"TableName": "ingest-throttled"})["Sum"] > 0
    consumed = _stats(cloudwatch, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", {"TableName": "ingest-throttled"})
    assert consumed["Sum"] == 150  # each reading once: a refused item consumed nothing


# --- SQS ----------------------------------------------------------------------------------------------------------


def test_sqs_depths_and_counts_of_an_active_queue(sandbox, aws):
    _, cloudwatch, sqs = aws
    url = sqs.create_queue(QueueName="metrics-q")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(4)])
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    _flush(sandbox)
    queue = {"QueueName": "metrics-q"}

    def one(metric):
        return _stats(cloudwatch, "AWS/SQS", metric, queue)

    assert one("NumberOfMessagesSent")["Sum"] == 4
    assert one("NumberOfMessagesReceived")["Sum"] == len(got)
    assert one("NumberOfMessagesDeleted")["Sum"] == 1
    assert one("ApproximateNumberOfMessagesVisible") == {"Sum": 4 - len(got), "SampleCount": 1, "Maximum": 4 - len(got)}
    assert one("ApproximateNumberOfMessagesNotVisible")["Maximum"] == len(got) - 1
    assert one("ApproximateAgeOfOldestMessage")["SampleCount"] == 1


def test_a_message_moved_to_a_dlq_shows_there(sandbox, aws):
    _, cloudwatch, sqs = aws
    dlq = sqs.create_queue(QueueName="metrics-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(
        QueueName="metrics-src",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "1"}}',
        },
    )["QueueUrl"]
    sqs.send_message(QueueUrl=src, MessageBody="poison")
    assert sqs.receive_message(QueueUrl=src)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=src)  # moved to the DLQ by this receive
    _flush(sandbox)
    depth = _stats(cloudwatch, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "metrics-dlq"})
    assert depth["Maximum"] == 1
    # a move to a DLQ is not a send to it
    assert _stats(cloudwatch, "AWS/SQS", "NumberOfMessagesSent", {"QueueName": "metrics-dlq"})["Sum"] == 0


def test_a_queue_without_activity_publishes_nothing(sandbox, aws):
    _, cloudwatch, _ = aws
    _flush(sandbox)
    never = _stats(cloudwatch, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "no-such-queue"})
    assert never["SampleCount"] == 0


def test_the_oldest_age_leaves_out_poison_pills_while_others_remain():
    from types import SimpleNamespace

    from opsctl.sandbox.sqs_metrics import oldest_age_s

    def message(entered: float, receives: int):
        return SimpleNamespace(_sandbox_entered=entered, sent_timestamp=None, approximate_receive_count=receives)

    now = 1_000.0
    standard = SimpleNamespace(fifo_queue=False, _messages=[message(100, 4), message(700, 1)])
    assert oldest_age_s(standard, now) == 300  # the message received 4 times is left out
    only_poison = SimpleNamespace(fifo_queue=False, _messages=[message(100, 4)])
    assert oldest_age_s(only_poison, now) == 900
    fifo = SimpleNamespace(fifo_queue=True, _messages=[message(100, 4), message(700, 1)])
    assert oldest_age_s(fifo, now) == 900  # FIFO keeps its order: the blocked message counts
    assert oldest_age_s(SimpleNamespace(fifo_queue=False, _messages=[]), now) is None


def test_the_burst_bucket_starts_empty_at_creation_and_holds_at_most_300_seconds():
    from opsctl.sandbox.dynamodb_capacity import ProvisionedCapacity

    now = [1_000.0]
    capacity = ProvisionedCapacity(clock=lambda: now[0])
    key, rate, created = ("arn:table", 1_000.0, None, "write"), 5.0, 1_000.0  # 5 WCU, created at t = 1,000 s
    assert not capacity.reserve(key, rate, created, 1)  # a new table has no burst yet
    now[0] = 1_010.0
    assert capacity.tokens(key, rate, created) == 50  # 10 s of unused capacity at 5 WCU/s
    now[0] = 5_000.0
    assert capacity.tokens(key, rate, created) == BURST_S * rate  # at most 300 s of it: 1,500 units
    assert capacity.reserve(key, rate, created, 1_500) and not capacity.reserve(key, rate, created, 1)
    capacity.settle(key, 10)  # a Query that read more than its minimum leaves the bucket in debt
    now[0] = 5_001.0
    assert capacity.tokens(key, rate, created) == -5 and not capacity.reserve(key, rate, created, 0.5)
