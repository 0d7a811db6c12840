"""`opsctl replay-dlq` and `opsctl dlq list` as a user runs them, against a moto server named by --endpoint-url:
a killed process loses nothing, bad input is one line and moves nothing, --native follows AWS's move task."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from opsctl.cli.errors import error_line
from opsctl.core.aws import AwsTarget
from opsctl.core.errors import OpsError
from opsctl.core.stack import Stack
from opsctl.replay import sources as dlq
from opsctl.sandbox.runtime.mapping import iso_millis

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


@pytest.fixture
def aws(moto_endpoint):
    return lambda service: boto3.client(
        service,
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def _env(tmp_path) -> dict:
    env = {**os.environ, "OPSCTL_SANDBOX_DIR": str(tmp_path / "no-sandbox")}
    env.pop("OPSCTL_ENV", None)
    return env


def opsctl_cmd(endpoint: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "opsctl.cli.app", "--endpoint-url", endpoint, *args]


def run(endpoint, tmp_path, *args, timeout=120):
    return subprocess.run(
        opsctl_cmd(endpoint, *args), cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def dead_letter_pair(sqs, n: int, name="work"):
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1}),
        },
    )["QueueUrl"]
    bodies = [json.dumps({"device_id": f"dev-{i % 4}", "i": i}) for i in range(n)]
    for i in range(0, n, 10):
        sqs.send_message_batch(
            QueueUrl=src, Entries=[{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])]
        )
    while depth(sqs, dlq_url) < n:
        sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10)
    return src, dlq_url, bodies


def depth(sqs, url) -> int:
    a = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def drain(sqs, url) -> list[str]:
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        if not got:
            return out
        out += [m["Body"] for m in got]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        )


def test_a_killed_replay_loses_nothing_and_running_it_again_finishes(moto_endpoint, aws, tmp_path):
    sqs = aws("sqs")
    src, dlq_url, bodies = dead_letter_pair(sqs, 60)
    backup = tmp_path / "moved.jsonl"
    args = [
        "replay-dlq",
        "--source",
        dlq_url,
        "--yes",
        "--concurrency",
        "1",
        "--visibility-timeout",
        "2",
        "--backup",
        str(backup),
    ]
    proc = subprocess.Popen(
        opsctl_cmd(moto_endpoint, *args, "--rate", "15"),
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while depth(sqs, src) < 10 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait()
    first = drain(sqs, src)
    assert 10 <= len(first) < 60  # killed in the middle
    time.sleep(2.5)  # what it held in hand comes back after its visibility timeout
    assert len(set(first)) + depth(sqs, dlq_url) >= 60  # nothing lost
    again = run(moto_endpoint, tmp_path, *args, "--output", "json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    second = drain(sqs, src)
    assert set(first) | set(second) == set(bodies) and depth(sqs, dlq_url) == 0
    assert report["moved"] == len(second) and report["left"] == {"visible": 0, "in_flight": 0}
    assert len(first) + len(second) - 60 <= 10  # at most the batch in hand at the kill went twice (at-least-once)
    assert set(first) <= {json.loads(line)["body"] for line in backup.read_text().splitlines()}
    assert "at-least-once" in again.stderr


def test_dry_run_through_the_cli_lists_and_moves_nothing(moto_endpoint, aws, tmp_path):
    sqs = aws("sqs")
    src, dlq_url, _ = dead_letter_pair(sqs, 12)
    proc = run(
        moto_endpoint,
        tmp_path,
        "replay-dlq",
        "--source",
        "work-dlq",
        "--dry-run",
        "--filter",
        "device_id == 'dev-1'",
        "--output",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert len(d["would_move"]) == 3 and d["skipped"] == 9 and d["moved"] == 0
    assert depth(sqs, src) == 0 and depth(sqs, dlq_url) == 12
    a = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert a["ApproximateNumberOfMessages"] == "12"  # visible again at once


def test_unknown_queue_is_one_line(moto_endpoint, aws, tmp_path):
    assert_one_line_error(
        run(moto_endpoint, tmp_path, "replay-dlq", "--source", "no-such-dlq", "--yes"), "no such queue: no-such-dlq"
    )


def test_a_queue_with_no_source_is_one_line_and_nothing_moves(moto_endpoint, aws, tmp_path):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="lonely")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    assert_one_line_error(
        run(moto_endpoint, tmp_path, "replay-dlq", "--source", "lonely", "--yes"), "lonely has no source", "--to"
    )
    assert depth(sqs, url) == 1


def test_native_with_filter_is_refused_before_anything_moves(moto_endpoint, aws, tmp_path):
    sqs = aws("sqs")
    src, dlq_url, _ = dead_letter_pair(sqs, 5)
    proc = run(moto_endpoint, tmp_path, "replay-dlq", "--source", dlq_url, "--native", "--filter", "i > `2`", "--yes")
    assert_one_line_error(proc, "--native cannot --filter", "StartMessageMoveTask")
    assert depth(sqs, dlq_url) == 5 and depth(sqs, src) == 0


def test_a_bad_filter_is_one_line(moto_endpoint, aws, tmp_path):
    sqs = aws("sqs")
    _, dlq_url, _ = dead_letter_pair(sqs, 3)
    assert_one_line_error(
        run(moto_endpoint, tmp_path, "replay-dlq", "--source", dlq_url, "--filter", "i >", "--yes"), "bad --filter"
    )
    assert depth(sqs, dlq_url) == 3


def test_native_on_an_endpoint_without_move_tasks_is_one_line(moto_endpoint, aws, tmp_path):
    sqs = aws("sqs")
    _, dlq_url, _ = dead_letter_pair(sqs, 4)
    proc = run(moto_endpoint, tmp_path, "replay-dlq", "--source", dlq_url, "--native", "--yes")
    assert_one_line_error(proc, "does not implement StartMessageMoveTask", "drop --native")
    assert depth(sqs, dlq_url) == 4


def _consumer_with_failure_queue(aws):
    """A function whose Kinesis mapping sends failures to a queue: the shape of the ingest consumer."""
    sqs, kinesis, lam = aws("sqs"), aws("kinesis"), aws("lambda")
    kinesis.create_stream(StreamName="readings", ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName="readings")["StreamDescriptionSummary"]["StreamARN"]
    url = sqs.create_queue(QueueName="ingest-failures")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    role = aws("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("h.py", "def handler(event, context):\n    return None\n")
    lam.create_function(
        FunctionName="ingest", Runtime="python3.11", Role=role, Handler="h.handler", Code={"ZipFile": buf.getvalue()}
    )
    lam.create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName="ingest",
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    return sqs, kinesis, stream_arn, url


def test_an_expired_range_is_one_line_and_nothing_moves(moto_endpoint, aws, tmp_path):
    sqs, kinesis, stream_arn, url = _consumer_with_failure_queue(aws)
    put = kinesis.put_record(StreamARN=stream_arn, Data=b'{"device_id": "d"}', PartitionKey="d")
    arrived = iso_millis(time.time() - 30 * 3600)
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(
            {
                "version": "1.0",
                "KinesisBatchInfo": {
                    "shardId": put["ShardId"],
                    "startSequenceNumber": put["SequenceNumber"],
                    "endSequenceNumber": put["SequenceNumber"],
                    "approximateArrivalOfFirstRecord": arrived,
                    "approximateArrivalOfLastRecord": arrived,
                    "batchSize": 1,
                    "streamArn": stream_arn,
                },
            }
        ),
    )
    proc = run(moto_endpoint, tmp_path, "replay-dlq", "--source", "ingest-failures", "--via", "stream", "--yes")
    assert_one_line_error(proc, "1 of 1 failure records", "1 records that nothing can bring back", "--skip-expired")
    assert depth(sqs, url) == 1
    shard = kinesis.list_shards(StreamARN=stream_arn)["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamARN=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    assert len(kinesis.get_records(StreamARN=stream_arn, ShardIterator=it)["Records"]) == 1  # nothing put back


def test_dlq_list_puts_the_soonest_expiring_failure_records_first(moto_endpoint, aws, tmp_path):
    sqs, kinesis, stream_arn, url = _consumer_with_failure_queue(aws)
    _, dlq_url, _ = dead_letter_pair(sqs, 3, name="rollup")
    put = kinesis.put_record(StreamARN=stream_arn, Data=b"{}", PartitionKey="d")
    arrived = iso_millis(time.time() - 20 * 3600)  # 4 h left of the stream's 24 h
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(
            {
                "KinesisBatchInfo": {
                    "shardId": put["ShardId"],
                    "startSequenceNumber": put["SequenceNumber"],
                    "endSequenceNumber": put["SequenceNumber"],
                    "approximateArrivalOfFirstRecord": arrived,
                    "batchSize": 7,
                    "streamArn": stream_arn,
                }
            }
        ),
    )
    stack = Stack(
        env="test",
        target=AwsTarget(region=REGION, endpoint_url=moto_endpoint, sandbox=True),
        outputs={"rollup_dlq_url": dlq_url, "ingest_failure_queue_url": url},
    )
    data = dlq.list_queues(stack)
    first, second = data["queues"]
    assert first["queue"] == "ingest-failures" and first["expiry_level"] == "urgent"
    assert 3.9 * 3600 < first["soonest_expiry_s"] <= 4 * 3600 and first["records_referenced"] == 7
    assert first["replays_to"] == "ingest" and first["visible"] == 1  # visible again after the peek
    assert second["queue"] == "rollup-dlq" and second["visible"] == 3 and second["replays_to"] == "rollup"
    assert data["missing"] == []


def test_rollup_without_its_output_is_one_clear_line():
    stack = Stack(env="dev", target=AwsTarget(), outputs={"ingest_failure_queue_url": "https://x"})
    with pytest.raises(OpsError) as exc:
        dlq.named_queue_url(stack, "rollup")
    assert "environment 'dev' has no 'rollup_dlq_url' output" in error_line(
        exc.value
    ) and "--source QUEUE" in error_line(exc.value)


def test_native_follows_the_move_task_to_the_end():
    sqs = boto3.client("sqs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    src = dlq.Source(
        label="rollup",
        kind=dlq.SQS_DLQ,
        url="https://sqs.us-east-1.amazonaws.com/1/r-dlq",
        arn="arn:aws:sqs:us-east-1:1:r-dlq",
        destination_url="https://sqs.us-east-1.amazonaws.com/1/r",
    )
    seen = []
    with Stubber(sqs) as stub:
        stub.add_response(
            "get_queue_attributes",
            {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:1:r"}},
            {"QueueUrl": src.destination_url, "AttributeNames": ["QueueArn"]},
        )
        stub.add_response(
            "start_message_move_task",
            {"TaskHandle": "t-1"},
            {"SourceArn": src.arn, "DestinationArn": "arn:aws:sqs:us-east-1:1:r", "MaxNumberOfMessagesPerSecond": 500},
        )
        for moved, status in ((40, "RUNNING"), (100, "COMPLETED")):
            stub.add_response(
                "list_message_move_tasks",
                {
                    "Results": [
                        {
                            "Status": status,
                            "ApproximateNumberOfMessagesMoved": moved,
                            "ApproximateNumberOfMessagesToMove": 100,
                        }
                    ]
                },
                {"SourceArn": src.arn, "MaxResults": 1},
            )
        result = dlq.native_move(
            sqs, src, rate_per_s=900, progress=lambda m, t: seen.append((m, t)), sleep=lambda s: None
        )
        stub.assert_no_pending_responses()
    assert result == {"task_handle": "t-1", "status": "COMPLETED", "moved": 100, "to_move": 100, "failure_reason": None}
    assert seen == [(40, 100), (100, 100)]  # progress reported; the rate capped at AWS's 500 msg/s
