"""The sustained-rate row of `make bench` (tests/bench/rate_bench.py) states a ratio only when both sides measured
what the row's name says: each stored its own readings, once, and rolled them up, starting on an idle pipeline."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rate_bench import baseline_problem, sustained_row


def _figures(sent=60_000, stored=60_000, rolled_up=60_000, *, cut=False, idle=True, per_s=500.0) -> dict:
    return {
        "sent": sent,
        "stored": stored,
        "rolled_up": rolled_up,
        "drain_cut": cut,
        "started_idle": idle,
        "readings_per_s": per_s,
    }


def _row(ours: dict, naive: dict) -> dict:
    return sustained_row({"ours": ours, "naive": naive}, rate=1000, duration=60, devices=100, drain_s=240)


def test_both_sides_complete_give_the_ratio_of_their_rates():
    row = _row(_figures(per_s=600.0), _figures(per_s=200.0))
    assert row["ratio"] == 3.0
    assert "NOT COMPARABLE" not in row["metric"]
    assert "ours 60000/60000 stored, 60000 rolled up;" in row["metric"]


def test_a_naive_side_that_stored_nothing_gives_no_ratio_and_says_so():
    row = _row(_figures(per_s=600.0), _figures(stored=0, rolled_up=0, cut=True, per_s=0.0))
    assert row["ratio"] is None
    assert row["metric"].endswith("NOT COMPARABLE: naive stored none of its 60000 readings")


def test_a_cut_catch_up_is_named_and_still_comparable():
    row = _row(_figures(stored=37_600, rolled_up=12_827, cut=True, per_s=200.0), _figures(per_s=100.0))
    assert row["ratio"] == 2.0
    assert "ours 37600/60000 stored, 12827 rolled up, catch-up cut at 240 s" in row["metric"]


def test_readings_missing_once_idle_and_a_busy_start_are_problems():
    assert baseline_problem(_figures(stored=59_999)) == (
        "went idle with 59999 of its 60000 readings stored and 60000 rolled up"
    )
    assert "idle pipeline" in (baseline_problem(_figures(idle=False)) or "")
    assert baseline_problem(_figures()) is None
    row = _row(_figures(), _figures(idle=False))
    assert row["ratio"] is None and "NOT COMPARABLE: naive did not start on an idle pipeline" in row["metric"]


def _stack(endpoint: str):
    """What discard_leftovers uses of a stack: clients of the sandbox's endpoint."""
    import boto3

    class Target:
        def client(self, service):
            return boto3.client(
                service,
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

    class Stack:
        target = Target()

    return Stack()


def test_leftovers_of_an_earlier_row_are_dropped_and_what_comes_after_is_still_delivered(moto_endpoint, tmp_path):
    """discard_leftovers moves each Kinesis mapping's checkpoint past its shard's records (the runtime then starts
    after them) and empties the queues mappings read; records put afterwards are the next ones read."""
    import io
    import json
    import zipfile

    from rate_bench import discard_leftovers, skip_shard

    from opsctl.sandbox.runtime.mapping import CheckpointStore

    stack = _stack(moto_endpoint)
    kinesis, sqs, lam, iam = (stack.target.client(s) for s in ("kinesis", "sqs", "lambda", "iam"))
    kinesis.create_stream(StreamName="readings", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="readings")["StreamDescription"]["StreamARN"]
    kinesis.put_records(StreamName="readings", Records=[{"Data": b"{}", "PartitionKey": f"d{i}"} for i in range(25)])
    queue = sqs.create_queue(QueueName="rollup-jobs")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": "{}"} for i in range(7)])
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("h.py", "def handler(e, c):\n    return None\n")
    lam.create_function(
        FunctionName="fn",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="h.handler",
        Code={"ZipFile": code.getvalue()},
    )
    stream_map = lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=arn, StartingPosition="TRIM_HORIZON")
    lam.create_event_source_mapping(FunctionName="fn", EventSourceArn=queue_arn)

    assert discard_leftovers(stack, tmp_path) == {"records": 25, "messages": 7}
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    shard = kinesis.list_shards(StreamARN=arn)["Shards"][0]["ShardId"]
    checkpoint = CheckpointStore(tmp_path / "checkpoints.json").get(stream_map["UUID"], shard)["sequence_number"]
    put = kinesis.put_records(StreamName="readings", Records=[{"Data": b"{}", "PartitionKey": "next"}] * 3)
    assert skip_shard(kinesis, arn, shard, checkpoint) == (put["Records"][-1]["SequenceNumber"], 3)
    assert discard_leftovers(stack, tmp_path) == {"records": 3, "messages": 0}  # nothing queued: no purge
    assert discard_leftovers(stack, tmp_path) == {"records": 0, "messages": 0}


def test_a_cut_catch_up_counts_only_the_readings_that_reached_their_rollups():
    from rate_bench import end_to_end_rate

    assert end_to_end_rate(60_000, 60_000, 38_400, cut=True, seconds=300.0) == 128.0
    assert end_to_end_rate(60_000, 30_000, 45_000, cut=True, seconds=300.0) == 100.0
    assert end_to_end_rate(60_000, 60_000, 60_000, cut=False, seconds=120.0) == 500.0
