"""AWS/Kinesis stream metrics and read limits on the sandbox's moto server: what CloudWatch holds is what the
server served (records and bytes put, refused, read), and a shard serves 5 GetRecords a second and 2 MiB/s,
refusing the rest with ProvisionedThroughputExceededException, which the local Lambda runtime's poller
backs off from without losing or repeating a record."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
from collections import Counter

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from opsctl.core.aws import AwsTarget
from opsctl.sandbox import cw_metrics, limits, server
from opsctl.stream import iterator_age as ia

REGION = "us-east-1"


def test_a_shard_serves_5_reads_a_second_and_2_mib_a_second():
    now = [50.0]
    reads = limits.KinesisReadLimits(clock=lambda: now[0])
    assert all(reads.admit("arn:s", "shard-0") for _ in range(5))
    assert not reads.admit("arn:s", "shard-0")  # the 6th GetRecords within the second
    assert reads.admit("arn:s", "shard-1")  # another shard has its own quota
    now[0] += 1.0
    assert reads.admit("arn:s", "shard-0")
    reads.served("arn:s", "shard-0", 10 * 1024 * 1024)  # a 10 MiB read: the shard is paid up 5 s later
    now[0] += 4.9
    assert not reads.admit("arn:s", "shard-0")
    now[0] += 0.2
    assert reads.admit("arn:s", "shard-0")
    reads.served("arn:s", "shard-1", 300 * 1024)  # 300 KiB reads 5 times a second stay within 2 MiB/s
    assert all(reads.admit("arn:s", "shard-1") for _ in range(3))
    assert reads.refused == {"arn:s": 2}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("kinesis-metrics")
    state = server.start(state_dir=state_dir)
    try:
        yield state.endpoint
    finally:
        server.stop(state_dir)


def _client(endpoint: str, service: str, *, attempts: int = 3):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"}),
    )


def _stat(endpoint: str, stream: str, metric: str, statistic: str) -> list[float]:
    """Every datapoint of one statistic of a stream metric over the last 20 minutes, a minute each (the minute
    under way included: the server publishes what it has recorded on request)."""
    _flush(endpoint)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    points = _client(endpoint, "cloudwatch").get_metric_statistics(
        Namespace="AWS/Kinesis",
        MetricName=metric,
        Dimensions=[{"Name": "StreamName", "Value": stream}],
        StartTime=end - dt.timedelta(minutes=20),
        EndTime=end,
        Period=60,
        Statistics=[statistic],
    )["Datapoints"]
    return [p[statistic] for p in points]


def _flush(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(endpoint + cw_metrics.FLUSH_PATH, method="POST")).read()


def test_incoming_records_and_bytes_sum_exactly_what_was_put(endpoint):
    k = _client(endpoint, "kinesis")
    k.create_stream(StreamName="counted", ShardCount=2)
    readings = [json.dumps({"device_id": f"dev-{i % 9}", "ts": 1_700_000_000 + i, "t": 20.5}) for i in range(437)]
    keys = [f"dev-{i % 9}" for i in range(437)]
    k.put_record(StreamName="counted", Data=readings[0].encode(), PartitionKey=keys[0])
    for i in range(1, 437, 200):
        resp = k.put_records(
            StreamName="counted",
            Records=[
                {"Data": d.encode(), "PartitionKey": p}
                for d, p in zip(readings[i : i + 200], keys[i : i + 200], strict=True)
            ],
        )
        assert resp["FailedRecordCount"] == 0
    expected_bytes = sum(len(d.encode()) + len(p) for d, p in zip(readings, keys, strict=True))
    assert sum(_stat(endpoint, "counted", "IncomingRecords", "Sum")) == 437
    assert sum(_stat(endpoint, "counted", "IncomingBytes", "Sum")) == expected_bytes
    assert sum(_stat(endpoint, "counted", "PutRecord.Success", "Sum")) == 1
    assert sum(_stat(endpoint, "counted", "PutRecord.Bytes", "Sum")) == len(readings[0]) + len(keys[0])
    assert sum(_stat(endpoint, "counted", "PutRecords.Success", "Sum")) == 3  # calls: 200 + 200 + 36 records
    assert sum(_stat(endpoint, "counted", "PutRecords.TotalRecords", "Sum")) == 436
    assert sum(_stat(endpoint, "counted", "PutRecords.SuccessfulRecords", "Sum")) == 436
    assert sum(_stat(endpoint, "counted", "PutRecords.ThrottledRecords", "Sum")) == 0
    assert sum(_stat(endpoint, "counted", "WriteProvisionedThroughputExceeded", "Sum")) == 0  # data, not "no data"
    assert max(_stat(endpoint, "counted", "PutRecords.Latency", "Maximum")) > 0


def test_throttled_writes_are_counted_per_record_refused(endpoint):
    k = _client(endpoint, "kinesis", attempts=1)
    k.create_stream(StreamName="narrow", ShardCount=1)
    data = b"x" * 1000
    refused = accepted = 0
    for _ in range(4):  # 2,000 records at once: a shard takes 1,000 a second
        resp = k.put_records(StreamName="narrow", Records=[{"Data": data, "PartitionKey": "dev-1"}] * 500)
        refused += resp["FailedRecordCount"]
        accepted += 500 - resp["FailedRecordCount"]
    assert refused > 0
    assert sum(_stat(endpoint, "narrow", "WriteProvisionedThroughputExceeded", "Sum")) == refused
    assert sum(_stat(endpoint, "narrow", "PutRecords.ThrottledRecords", "Sum")) == refused
    assert sum(_stat(endpoint, "narrow", "IncomingRecords", "Sum")) == accepted
    assert sum(_stat(endpoint, "narrow", "IncomingBytes", "Sum")) == accepted * (1000 + len("dev-1"))


def test_reads_over_5_a_second_are_refused_and_counted(endpoint):
    k = _client(endpoint, "kinesis", attempts=1)  # botocore would retry the throttling error by itself
    k.create_stream(StreamName="read-often", ShardCount=1)
    k.put_records(StreamName="read-often", Records=[{"Data": b"r%d" % i, "PartitionKey": "p"} for i in range(7)])
    shard = k.list_shards(StreamName="read-often")["Shards"][0]["ShardId"]
    it = k.get_shard_iterator(StreamName="read-often", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    served, errors, got = 0, [], []
    for _ in range(12):
        try:
            page = k.get_records(ShardIterator=it, Limit=1)
        except ClientError as exc:
            errors.append(exc.response["Error"])
            continue
        served += 1
        got += [r["Data"] for r in page["Records"]]
        it = page["NextShardIterator"]
    assert errors, "12 reads in a row never met the shard's 5 reads a second"
    assert {e["Code"] for e in errors} == {"ProvisionedThroughputExceededException"}
    assert "Rate exceeded for shard shardId-000000000000 in stream read-often" in errors[0]["Message"]
    assert sum(_stat(endpoint, "read-often", "ReadProvisionedThroughputExceeded", "Sum")) == len(errors)
    assert sum(_stat(endpoint, "read-often", "GetRecords.Success", "Sum")) == served
    assert sum(_stat(endpoint, "read-often", "GetRecords.Records", "Sum")) == len(got)
    assert got == [b"r%d" % i for i in range(len(got))]  # a refused read skipped nothing


def test_iterator_age_is_the_age_of_the_last_record_read_and_iterator_age_shows_it(endpoint):
    k = _client(endpoint, "kinesis")
    k.create_stream(StreamName="aged", ShardCount=1)
    put_before = time.time()
    k.put_record(StreamName="aged", Data=b"old", PartitionKey="p")
    put_after = time.time()
    time.sleep(1.5)
    shard = k.list_shards(StreamName="aged")["Shards"][0]["ShardId"]
    it = k.get_shard_iterator(StreamName="aged", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    read_before = time.time()
    page = k.get_records(ShardIterator=it)
    read_after = time.time()
    assert [r["Data"] for r in page["Records"]] == [b"old"]
    k.get_records(ShardIterator=page["NextShardIterator"])  # at the tip: nothing behind, age 0
    oldest = max(_stat(endpoint, "aged", "GetRecords.IteratorAgeMilliseconds", "Maximum"))
    assert (read_before - put_after) * 1000 <= oldest <= (read_after - put_before) * 1000
    assert min(_stat(endpoint, "aged", "GetRecords.IteratorAgeMilliseconds", "Minimum")) == 0.0
    report = ia.check(
        kinesis=k,
        lambda_client=_client(endpoint, "lambda"),
        cloudwatch=_client(endpoint, "cloudwatch"),
        stream="aged",
        window=dt.timedelta(minutes=15),
        warn_ms=60_000,
        crit_ms=600_000,
    ).to_dict()
    assert report["stream_get_records_iterator_age_ms"] == oldest  # no longer n/a


HANDLER = """
import base64, json, os

def handler(event, context):
    with open(os.environ["DELIVERIES"], "a") as fh:
        for r in event["Records"]:
            data = base64.b64decode(r["kinesis"]["data"]).decode()
            fh.write(json.dumps([r["kinesis"]["sequenceNumber"], data]) + "\\n")
    return {"batchItemFailures": []}
"""


def test_the_poller_backs_off_from_refused_reads_and_delivers_every_record_once(endpoint, tmp_path):
    from opsctl.core.packaging import build_zip
    from opsctl.sandbox.runtime import runner

    src = tmp_path / "src"
    (src / "slow").mkdir(parents=True)
    (src / "slow" / "__init__.py").write_text("")
    (src / "slow" / "handlers.py").write_text(HANDLER)
    zip_path = tmp_path / "functions.zip"
    build_zip(src, zip_path)
    deliveries = tmp_path / "deliveries.jsonl"
    k = _client(endpoint, "kinesis")
    k.create_stream(StreamName="polled", ShardCount=1)
    arn = k.describe_stream_summary(StreamName="polled")["StreamDescriptionSummary"]["StreamARN"]
    sent = {}
    resp = k.put_records(StreamName="polled", Records=[{"Data": b"m%d" % i, "PartitionKey": "p"} for i in range(40)])
    for i, rec in enumerate(resp["Records"]):
        sent[rec["SequenceNumber"]] = f"m{i}"
    role = _client(endpoint, "iam").create_role(
        RoleName="polled-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    lam = _client(endpoint, "lambda")
    lam.create_function(
        FunctionName="polled-consumer",
        Runtime="python3.11",
        Role=role,
        Handler="slow.handlers.handler",
        Code={"ZipFile": zip_path.read_bytes()},
        Environment={"Variables": {"DELIVERIES": str(deliveries)}},
    )
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="polled-consumer", StartingPosition="TRIM_HORIZON", BatchSize=1
    )
    summary = runner.run(
        AwsTarget(region=REGION, endpoint_url=endpoint, sandbox=True),
        state_dir=tmp_path / "state",
        zip_path=zip_path,
        max_seconds=120,
    ).to_dict()
    assert not summary["timed_out"]
    (mapping,) = summary["mappings"]
    delivered = [tuple(json.loads(line)) for line in deliveries.read_text().splitlines()]
    assert Counter(delivered) == Counter(sent.items())  # each once, none lost
    assert [int(s) for s, _ in delivered] == sorted(int(s) for s in sent)  # in shard order
    assert mapping["read_throttles"] > 0  # the shard really refused some reads
    assert sum(_stat(endpoint, "polled", "ReadProvisionedThroughputExceeded", "Sum")) >= mapping["read_throttles"]


def test_an_idle_shard_beside_a_busy_one_is_read_under_its_quota_and_the_run_still_ends_idle(endpoint, tmp_path):
    """A drained shard is read at most 4 times a second (runtime/kinesis.py DRAINED_SHARD_READ_INTERVAL_S): read on
    every pass of a busy run (one single-record batch a pass on the other stream), it went over its 5 GetRecords a
    second, and a refused read counts as work, so `--until-idle` could spin for minutes. Records put on the idle
    stream by the busy stream's consumer during the run are still delivered before the run ends."""
    from opsctl.core.packaging import build_zip
    from opsctl.sandbox.runtime import runner

    src = tmp_path / "src"
    (src / "relay").mkdir(parents=True)
    (src / "relay" / "__init__.py").write_text("")
    (src / "relay" / "handlers.py").write_text(
        HANDLER
        + """
import boto3

def relay(event, context):
    handler(event, context)
    last = base64.b64decode(event["Records"][-1]["kinesis"]["data"]).decode()
    if last == "b39":  # the busy stream's last record: one more for the idle stream, at the very end
        boto3.client("kinesis").put_record(StreamName="idle", Data=b"late", PartitionKey="p")
    return {"batchItemFailures": []}
"""
    )
    zip_path = tmp_path / "functions.zip"
    build_zip(src, zip_path)
    k = _client(endpoint, "kinesis")
    lam = _client(endpoint, "lambda")
    # The run drives every mapping on the server: an earlier test's (another zip's function) would stop it.
    for m in lam.list_event_source_mappings()["EventSourceMappings"]:
        lam.delete_event_source_mapping(UUID=m["UUID"])
    role = _client(endpoint, "iam").create_role(
        RoleName="relay-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    deliveries = {}
    for stream, handler in (("busy", "relay.handlers.relay"), ("idle", "relay.handlers.handler")):
        k.create_stream(StreamName=stream, ShardCount=1)
        arn = k.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
        deliveries[stream] = tmp_path / f"{stream}.jsonl"
        lam.create_function(
            FunctionName=f"{stream}-consumer",
            Runtime="python3.11",
            Role=role,
            Handler=handler,
            Code={"ZipFile": zip_path.read_bytes()},
            Environment={"Variables": {"DELIVERIES": str(deliveries[stream])}},
        )
        lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=f"{stream}-consumer", StartingPosition="TRIM_HORIZON", BatchSize=1
        )
    k.put_records(StreamName="busy", Records=[{"Data": b"b%d" % i, "PartitionKey": "p"} for i in range(40)])
    summary = runner.run(
        AwsTarget(region=REGION, endpoint_url=endpoint, sandbox=True),
        state_dir=tmp_path / "state",
        zip_path=zip_path,
        until_idle=True,
        max_seconds=120,
    ).to_dict()
    assert not summary["timed_out"]
    by_stream = {m["source"].rsplit("/", 1)[-1]: m for m in summary["mappings"]}
    assert by_stream["idle"]["read_throttles"] == 0, by_stream["idle"]
    busy = [json.loads(line)[1] for line in deliveries["busy"].read_text().splitlines()]
    assert sorted(busy) == sorted(f"b{i}" for i in range(40))
    assert [json.loads(line)[1] for line in deliveries["idle"].read_text().splitlines()] == ["late"]
