"""Replaying Kinesis on-failure records against a moto server: real records on a real stream (resharded
where it matters), failure messages as Lambda (and our local runtime) write them, outcomes read back
from the stream, from what the consumer received, and from the on-failure queue."""

from __future__ import annotations

import base64
import json
import os
import textwrap
import time
from collections import Counter

import boto3
import pytest

from opsctl.cli.errors import error_line
from opsctl.core.aws import AwsTarget
from opsctl.core.errors import OpsError
from opsctl.core.packaging import build_zip
from opsctl.replay import kinesis as kr
from opsctl.sandbox.runtime import runner as runtime
from opsctl.sandbox.runtime.invoker import sandbox_invoker
from opsctl.sandbox.runtime.mapping import iso_millis

REGION = "us-east-1"


class World:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.target = AwsTarget(region=REGION, endpoint_url=endpoint, sandbox=True)
        self.kinesis = self.client("kinesis")
        self.sqs = self.client("sqs")
        self.stream_arn = None
        self.queue_url = self.sqs.create_queue(QueueName="ingest-failures")["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def client(self, service):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )

    def stream(self, shards: int = 1) -> str:
        self.kinesis.create_stream(StreamName="readings", ShardCount=shards)
        self.stream_arn = self.kinesis.describe_stream_summary(StreamName="readings")["StreamDescriptionSummary"][
            "StreamARN"
        ]
        return self.stream_arn

    def put(self, n: int, prefix: str = "r") -> list[dict]:
        out = []
        for i in range(n):
            data = json.dumps(
                {"device_id": f"dev-{i % 7}", "ts": 1_763_800_000_000 + i, "metrics": {"n": i}, "tag": prefix}
            )
            resp = self.kinesis.put_record(StreamARN=self.stream_arn, Data=data.encode(), PartitionKey=f"dev-{i % 7}")
            out.append({"shard": resp["ShardId"], "seq": resp["SequenceNumber"], "data": data, "key": f"dev-{i % 7}"})
        return out

    def fail(self, records: list[dict], *, arrived: float | None = None) -> None:
        """Sends the on-failure message Lambda writes for a batch of `records` (one shard, in order)."""
        first = time.time() if arrived is None else arrived
        self.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(
                {
                    "requestContext": {
                        "requestId": "c0ffee",
                        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:ingest",
                        "condition": "RetryAttemptsExhausted",
                        "approximateInvokeCount": 3,
                    },
                    "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                    "version": "1.0",
                    "timestamp": iso_millis(time.time()),
                    "KinesisBatchInfo": {
                        "shardId": records[0]["shard"],
                        "startSequenceNumber": records[0]["seq"],
                        "endSequenceNumber": records[-1]["seq"],
                        "approximateArrivalOfFirstRecord": iso_millis(first),
                        "approximateArrivalOfLastRecord": iso_millis(first),
                        "batchSize": len(records),
                        "streamArn": self.stream_arn,
                    },
                }
            ),
        )

    def queue_depth(self) -> tuple[int, int]:
        a = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def stream_contents(self) -> list[tuple[str, str]]:
        """(partition key, data) of every record of every shard, closed ones included."""
        out = []
        for s in self.kinesis.list_shards(StreamARN=self.stream_arn)["Shards"]:
            it = self.kinesis.get_shard_iterator(
                StreamARN=self.stream_arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while it:
                resp = self.kinesis.get_records(StreamARN=self.stream_arn, ShardIterator=it)
                if not resp["Records"]:
                    break
                out += [(r["PartitionKey"], r["Data"].decode()) for r in resp["Records"]]
                it = resp.get("NextShardIterator")
        return out


@pytest.fixture
def w(moto_endpoint) -> World:
    return World(moto_endpoint)


class Consumer:
    """An invoke target that records the Kinesis events it gets; `fail_on` makes it fail like a function."""

    def __init__(self, fail_on: str | None = None):
        self.events = []
        self.fail_on = fail_on

    def __call__(self, event):
        self.events.append(event)
        datas = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        if self.fail_on and any(self.fail_on in d for d in datas):
            return "RuntimeError: cannot digest", None
        return None, {"batchItemFailures": []}

    def delivered(self) -> list[tuple[str, str, str]]:
        return [
            (
                r["eventID"].split(":")[0],
                r["kinesis"]["sequenceNumber"],
                base64.b64decode(r["kinesis"]["data"]).decode(),
            )
            for e in self.events
            for r in e["Records"]
        ]


def _opts(**kw) -> kr.KinesisReplayOptions:
    kw.setdefault("wait_time_s", 0)
    kw.setdefault("read_pause_s", 0)
    return kr.KinesisReplayOptions(**kw)


def _invoke(consumer, batch_size=100):
    return kr.InvokeDelivery(
        consumer, batch_size=batch_size, role="arn:aws:iam::123456789012:role/ingest", region=REGION
    )


def _fr(shard, start, end, batch=1, arn="arn:s"):
    return kr.FailureRecord(
        message_id=f"{start}-{end}",
        receipt_handle="h",
        stream_arn=arn,
        shard_id=shard,
        start=str(start),
        end=str(end),
        batch_size=batch,
        first_arrival=None,
        condition=None,
        body={},
    )


def test_overlapping_ranges_of_bisected_batches_are_merged_per_shard():
    merged = kr.merge_ranges(
        [_fr("s0", 10, 20), _fr("s0", 15, 15), _fr("s0", 18, 30), _fr("s0", 31, 35), _fr("s1", 12, 14)]
    )
    assert [(m.shard_id, m.start, m.end, len(m.messages)) for m in merged] == [
        ("s0", 10, 30, 3),
        ("s0", 31, 35, 1),
        ("s1", 12, 14, 1),
    ]


def test_replay_via_stream_puts_back_exactly_the_failed_records_with_their_keys(w):
    w.stream(1)
    sent = w.put(30)
    w.fail(sent[5:10])
    w.fail(sent[7:13])  # a bisected retry overlapping the first
    w.fail(sent[20:21])
    report = kr.replay(w.sqs, w.kinesis, w.queue_url, _opts(), kr.StreamDelivery(w.kinesis))
    assert report.failure_messages == 3 and report.replayed_messages == 3 and report.records_delivered == 9
    assert len(report.ranges) == 2
    expected = [(r["key"], r["data"]) for r in sent[5:13] + sent[20:21]]
    assert Counter(w.stream_contents()) == Counter([(r["key"], r["data"]) for r in sent] + expected)
    assert w.queue_depth() == (0, 0)


def test_after_a_2_to_4_reshard_a_range_of_a_closed_shard_replays_the_right_records(w):
    w.stream(2)
    sent = w.put(60)
    shard0 = [r for r in sent if r["shard"] == "shardId-000000000000"]
    assert len(shard0) >= 12
    failed = shard0[3:11]
    w.fail(failed)
    w.kinesis.update_shard_count(StreamARN=w.stream_arn, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    shards = w.kinesis.list_shards(StreamARN=w.stream_arn)["Shards"]
    closed = {s["ShardId"] for s in shards if "EndingSequenceNumber" in s["SequenceNumberRange"]}
    assert "shardId-000000000000" in closed and len(shards) - len(closed) == 4
    w.put(20, prefix="after")  # later traffic, some of which moto still routes to the parents
    consumer = Consumer()
    report = kr.replay(w.sqs, w.kinesis, w.queue_url, _opts(), _invoke(consumer, batch_size=3))
    assert consumer.delivered() == [("shardId-000000000000", r["seq"], r["data"]) for r in failed]
    assert [len(e["Records"]) for e in consumer.events] == [3, 3, 2]  # the mapping's batch size
    rec = consumer.events[0]["Records"][0]
    assert (
        rec["eventSource"] == "aws:kinesis"
        and rec["eventSourceARN"] == w.stream_arn
        and rec["kinesis"]["partitionKey"] == failed[0]["key"]
    )
    assert report.replayed_messages == 1 and w.queue_depth() == (0, 0)


def test_a_range_at_the_very_end_of_a_closed_shard_ends(w):
    w.stream(1)
    sent = w.put(10)
    w.fail(sent[6:10])  # up to the last record the parent will ever hold
    w.kinesis.update_shard_count(StreamARN=w.stream_arn, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    consumer = Consumer()
    report = kr.replay(w.sqs, w.kinesis, w.queue_url, _opts(), _invoke(consumer))
    assert [d for _, _, d in consumer.delivered()] == [r["data"] for r in sent[6:10]]
    assert report.replayed_messages == 1


def test_an_expired_range_is_refused_with_one_line_and_nothing_moves(w):
    w.stream(1)
    sent = w.put(12)
    w.fail(sent[0:4], arrived=time.time() - 25 * 3600)  # the stream keeps 24 h
    w.fail(sent[6:8])
    consumer = Consumer()
    with pytest.raises(OpsError) as exc:
        kr.replay(w.sqs, w.kinesis, w.queue_url, _opts(), _invoke(consumer))
    assert (
        "1 of 2 failure records" in str(exc.value)
        and "4 records" in str(exc.value)
        and "--skip-expired" in error_line(exc.value)
        and exc.value.code == "refused"
    )
    assert consumer.events == [] and w.queue_depth() == (2, 0)  # nothing moved, both visible again at once
    report = kr.replay(w.sqs, w.kinesis, w.queue_url, _opts(skip_expired=True), _invoke(consumer))
    assert [d for _, _, d in consumer.delivered()] == [r["data"] for r in sent[6:8]]
    assert len(report.expired) == 1 and report.expired_records == 4 and report.replayed_messages == 1
    assert w.queue_depth() == (1, 0)  # the expired one stays for the post-mortem


def test_a_message_that_is_not_a_failure_record_stays_and_is_reported(w):
    w.stream(1)
    sent = w.put(3)
    w.sqs.send_message(QueueUrl=w.queue_url, MessageBody="hello")
    w.fail(sent[0:2])
    report = kr.replay(w.sqs, w.kinesis, w.queue_url, _opts(), kr.StreamDelivery(w.kinesis))
    assert [x["reason"] for x in report.not_failure_records] == ["body is not JSON"]
    assert report.replayed_messages == 1 and w.queue_depth() == (1, 0)


def test_a_failed_delivery_keeps_the_failure_message(w):
    w.stream(1)
    sent = w.put(10)
    w.fail(sent[0:3])
    w.fail(sent[5:7])
    consumer = Consumer(fail_on='"n": 6')
    report = kr.replay(w.sqs, w.kinesis, w.queue_url, _opts(), _invoke(consumer))
    assert report.replayed_messages == 1 and len(report.failed_ranges) == 1
    assert "function error" in report.failed_ranges[0]["reason"]
    assert w.queue_depth() == (1, 0)
    (left,) = w.sqs.receive_message(QueueUrl=w.queue_url)["Messages"]
    assert json.loads(left["Body"])["KinesisBatchInfo"]["startSequenceNumber"] == sent[5]["seq"]


class CrashingDelivery:
    """Delivers `ranges` ranges, then dies on the next one as a killed process would (after its backup)."""

    def __init__(self, inner, ranges: int):
        self.inner, self.left = inner, ranges

    def __getattr__(self, name):  # label and whatever else the replay reads of its delivery
        return getattr(self.inner, name)

    def deliver(self, stream_arn, shard_id, records):
        if self.left == 0:
            raise RuntimeError("injected crash")
        self.left -= 1
        return self.inner.deliver(stream_arn, shard_id, records)


def test_a_crash_between_ranges_loses_nothing_and_a_rerun_finishes(w, tmp_path):
    w.stream(1)
    sent = w.put(20)
    for i in range(0, 20, 5):
        w.fail(sent[i : i + 3])
    consumer = Consumer()
    backup = tmp_path / "records.jsonl"
    with pytest.raises(RuntimeError, match="injected crash"):
        kr.replay(w.sqs, w.kinesis, w.queue_url, _opts(backup=backup), CrashingDelivery(_invoke(consumer), 2))
    assert w.queue_depth() == (2, 0)  # the two not replayed are visible again at once
    kr.replay(w.sqs, w.kinesis, w.queue_url, _opts(backup=backup), _invoke(consumer))
    assert w.queue_depth() == (0, 0)
    expected = [r["data"] for i in range(0, 20, 5) for r in sent[i : i + 3]]
    assert Counter(d for _, _, d in consumer.delivered()) == Counter(expected)
    # 2 ranges before the crash, the third backed up just before its delivery crashed, then the rerun's 2.
    assert len(backup.read_text().splitlines()) == 3 * 3 + 2 * 3


def test_dry_run_and_filter_move_nothing_they_should_not(w):
    w.stream(2)
    sent = w.put(30)
    by_shard = {}
    for r in sent:
        by_shard.setdefault(r["shard"], []).append(r)
    for recs in by_shard.values():
        w.fail(recs[:2])
    report = kr.replay(w.sqs, w.kinesis, w.queue_url, _opts(dry_run=True), None)
    assert report.failure_messages == 2 and len(report.ranges) == 2 and w.queue_depth() == (2, 0)
    assert 23 * 3600 < report.soonest_expiry_s <= 24 * 3600
    consumer = Consumer()
    report = kr.replay(
        w.sqs,
        w.kinesis,
        w.queue_url,
        _opts(filter_expression="KinesisBatchInfo.shardId == 'shardId-000000000001'"),
        _invoke(consumer),
    )
    assert report.replayed_messages == 1 and report.skipped == 1
    assert {s for s, _, _ in consumer.delivered()} == {"shardId-000000000001"}
    assert w.queue_depth() == (1, 0)


@pytest.mark.parametrize(
    "seconds,level",
    [
        (-1, "expired"),
        (0, "expired"),
        (3600, "urgent"),
        (6 * 3600 - 1, "urgent"),
        (6 * 3600, "soon"),
        (24 * 3600 - 1, "soon"),
        (24 * 3600, "ok"),
        (None, "unknown"),
    ],
)
def test_expiry_levels_in_seconds(seconds, level):
    assert kr.expiry_level(seconds) == level


# -- the real local runtime writes the failure records; the replay runs the deployed function in-process --

HANDLER = """
import base64, json, os

def handler(event, context):
    if os.environ.get("MODE") == "broken":
        raise RuntimeError("table unreachable")
    with open(os.environ["DELIVERIES"], "a") as fh:
        for r in event["Records"]:
            data = base64.b64decode(r["kinesis"]["data"]).decode()
            fh.write(json.dumps([r["kinesis"]["sequenceNumber"], data]) + "\\n")
    return {"batchItemFailures": []}
"""


def test_runtime_failure_records_replay_through_the_sandbox_invoker(w, tmp_path):
    src = tmp_path / "src"
    (src / "replayfns").mkdir(parents=True)
    (src / "replayfns" / "__init__.py").write_text("")
    (src / "replayfns" / "h.py").write_text(textwrap.dedent(HANDLER))
    zip_path = tmp_path / "functions.zip"
    build_zip(src, zip_path)
    deliveries = tmp_path / "deliveries.jsonl"
    w.stream(1)
    role = w.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = w.client("lambda")
    lam.create_function(
        FunctionName="consumer",
        Runtime="python3.11",
        Role=role,
        Handler="replayfns.h.handler",
        Code={"ZipFile": zip_path.read_bytes()},
        Timeout=30,
        Environment={"Variables": {"MODE": "broken", "DELIVERIES": str(deliveries)}},
    )["FunctionArn"]
    lam.create_event_source_mapping(
        EventSourceArn=w.stream_arn,
        FunctionName="consumer",
        StartingPosition="TRIM_HORIZON",
        BatchSize=4,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": w.queue_arn}},
    )
    sent = w.put(10)
    runtime.run(w.target, state_dir=tmp_path / "state", zip_path=zip_path, max_seconds=60)
    assert not deliveries.exists() and w.queue_depth()[0] == 3  # batches of 4, 4, 2 given up on

    lam.update_function_configuration(
        FunctionName="consumer", Environment={"Variables": {"MODE": "ok", "DELIVERIES": str(deliveries)}}
    )
    mapping = kr.consumer_mapping(lam, w.stream_arn, w.queue_arn)
    assert mapping["BatchSize"] == 4
    invoke, role_arn, close = sandbox_invoker(
        w.target, mapping["FunctionArn"], state_dir=tmp_path / "state", zip_path=zip_path
    )
    try:
        report = kr.replay(
            w.sqs,
            w.kinesis,
            w.queue_url,
            _opts(),
            kr.InvokeDelivery(invoke, batch_size=mapping["BatchSize"], role=role_arn, region=REGION),
        )
    finally:
        close()
    got = [tuple(json.loads(line)) for line in deliveries.read_text().splitlines()]
    assert got == [(r["seq"], r["data"]) for r in sent]
    assert report.replayed_messages == 3 and w.queue_depth() == (0, 0)
    assert "MODE" not in os.environ
