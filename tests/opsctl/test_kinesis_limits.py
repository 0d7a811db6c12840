"""A Kinesis shard's write throughput in the sandbox: 1 MiB/s and 1,000 records/s, refused per record with
ProvisionedThroughputExceededException as Kinesis does, and `opsctl sandbox traffic`'s sender retries the
refused records until every one is on the stream exactly once."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from opsctl.core.aws import AwsTarget
from opsctl.sandbox import limits, server, traffic


def test_a_shard_window_takes_1000_records_or_1_mib_a_second():
    now = [100.0]
    w = limits.KinesisWriteLimits(clock=lambda: now[0])
    assert all(w.admit("arn:s", "shard-0", 10) for _ in range(1000))
    assert not w.admit("arn:s", "shard-0", 10)  # the 1,001st record within the second
    assert w.admit("arn:s", "shard-1", 10)  # another shard has its own window
    now[0] += 1.0
    assert w.admit("arn:s", "shard-0", 10)  # a second later the window has moved on
    big = limits.KinesisWriteLimits(clock=lambda: now[0])
    assert big.admit("arn:s", "shard-0", 700 * 1024) and not big.admit("arn:s", "shard-0", 400 * 1024)
    assert big.admit("arn:s", "shard-0", 300 * 1024)  # what still fits in the MiB
    assert w.refused == {"arn:s": 1} and big.refused == {"arn:s": 1}


@pytest.fixture(scope="module")
def kinesis(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("kinesis-limits")
    state = server.start(state_dir=state_dir)
    try:
        client = AwsTarget(endpoint_url=state.endpoint, sandbox=True).client("kinesis")
        client.create_stream(StreamName="one-shard", ShardCount=1)
        yield client
    finally:
        server.stop(state_dir)


def test_over_a_mib_in_one_call_the_rest_is_refused_per_record(kinesis):
    no_retries = boto3.client(
        "kinesis",
        endpoint_url=kinesis.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        config=Config(retries={"max_attempts": 1}),  # botocore retries this throttling error by itself
    )
    data = b"x" * (600 * 1024)
    resp = no_retries.put_records(
        StreamName="one-shard",
        Records=[{"Data": data, "PartitionKey": "dev-1"}, {"Data": data, "PartitionKey": "dev-1"}],
    )
    assert resp["FailedRecordCount"] == 1
    ok, refused = resp["Records"]
    assert ok["SequenceNumber"] and refused["ErrorCode"] == "ProvisionedThroughputExceededException"
    assert "Rate exceeded for shard shardId-000000000000 in stream one-shard" in refused["ErrorMessage"]
    # PutRecord right after: refused with the error itself (unless this machine took a second between the two
    # calls, so try a few times; one refusal is the point).
    codes = []
    for _ in range(5):
        no_retries.put_records(StreamName="one-shard", Records=[{"Data": data, "PartitionKey": "dev-1"}])
        try:
            no_retries.put_record(StreamName="one-shard", Data=data, PartitionKey="dev-1")
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
            break
    assert codes == ["ProvisionedThroughputExceededException"]


def test_traffic_retries_refused_records_until_each_is_on_the_stream_once(kinesis):
    kinesis.create_stream(StreamName="busy", ShardCount=1)
    items = traffic.mix(traffic.readings(1, 2500, seed=3), [], seed=3)  # one device: one shard, 2.5 s of its quota
    result = traffic.send(kinesis, "busy", items)
    assert result.sent == 2500 and result.throttled_retries > 0
    shard = kinesis.list_shards(StreamName="busy")["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName="busy", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    seen = []
    while len(seen) < 2500:
        page = kinesis.get_records(ShardIterator=it, Limit=10_000)
        if not page["Records"]:
            break
        seen += [r["Data"] for r in page["Records"]]
        it = page["NextShardIterator"]
    assert sorted(seen) == sorted(i.data for i in items)  # every record, none twice
