"""The local runtime's SQS poller against a moto server of the tests' own: real queues with a redrive policy,
a real Lambda function (a zip of small test handlers), a real SQS event source mapping, and outcomes read back
from the queues: what each invocation received, what was deleted, what SQS moved to the dead-letter queue."""

from __future__ import annotations

import hashlib
import json
import textwrap
from collections import Counter
from pathlib import Path

import boto3
import pytest

from opsctl.core.aws import AwsTarget
from opsctl.core.packaging import build_zip
from opsctl.sandbox.moto_main import disable_queue_delivery
from opsctl.sandbox.runtime import runner as runtime

REGION = "us-east-1"
FUNCTION = "rt-sqs-worker"

# Each invocation appends what it received to DELIVERIES. Bodies say how to answer: "bad..." always fails,
# "flaky..." fails on its first delivery; MODE=raise-once fails the first invocation, MODE=bogus-id answers
# with an itemIdentifier that is not in the batch once.
HANDLERS = """
import json, os

def _first_time(key):
    path = os.environ["DELIVERIES"] + ".seen"
    seen = set(open(path).read().split()) if os.path.exists(path) else set()
    if key in seen:
        return False
    with open(path, "a") as fh:
        fh.write(key + "\\n")
    return True

def handler(event, context):
    with open(os.environ["DELIVERIES"], "a") as fh:
        fh.write(json.dumps({"records": event["Records"], "request_id": context.aws_request_id}) + "\\n")
    mode = os.environ.get("MODE", "ok")
    if mode == "raise-once" and _first_time("raise"):
        raise RuntimeError("first invocation fails")
    if mode == "bogus-id" and _first_time("bogus"):
        return {"batchItemFailures": [{"itemIdentifier": "not-a-message-id"}]}
    failed = [r["messageId"] for r in event["Records"]
              if r["body"].startswith("bad") or (r["body"].startswith("flaky") and _first_time(r["messageId"]))]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
"""


@pytest.fixture(scope="module", autouse=True)
def _no_queue_delivery():
    disable_queue_delivery()  # as the sandbox's server does: the runtime is Lambda's poller, not moto


@pytest.fixture(scope="module")
def code_zip(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("functions")
    (src / "sqsfns").mkdir()
    (src / "sqsfns" / "__init__.py").write_text("")
    (src / "sqsfns" / "handlers.py").write_text(textwrap.dedent(HANDLERS))
    dest = tmp_path_factory.mktemp("build") / "functions.zip"
    build_zip(src, dest)
    return dest


class QueueSandbox:
    def __init__(self, endpoint: str, tmp_path: Path, zip_path: Path):
        self.endpoint, self.tmp_path, self.zip_path = endpoint, tmp_path, zip_path
        self.state_dir = tmp_path / "state"
        self.deliveries = tmp_path / "deliveries.jsonl"
        self.target = AwsTarget(region=REGION, endpoint_url=endpoint, sandbox=True)
        self.sqs = self.client("sqs")
        self.queue_url = self.queue_arn = self.dlq_url = None

    def client(self, service):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )

    def queues(self, *, visibility_timeout: int = 1, max_receive_count: int | None = 2) -> None:
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        if max_receive_count is not None:
            self.dlq_url = self.sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
            dlq_arn = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            )
        self.queue_url = self.sqs.create_queue(QueueName="jobs", Attributes=attributes)["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def function(self, *, mode: str = "ok") -> None:
        role = self.client("iam").create_role(RoleName="rt-sqs-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.client("lambda").create_function(
            FunctionName=FUNCTION,
            Runtime="python3.12",
            Role=role,
            Handler="sqsfns.handlers.handler",
            Code={"ZipFile": self.zip_path.read_bytes()},
            Timeout=30,
            MemorySize=128,
            Environment={"Variables": {"DELIVERIES": str(self.deliveries), "MODE": mode}},
        )

    def mapping(self, *, batch_size: int = 10, report: bool = True) -> str:
        return self.client("lambda").create_event_source_mapping(
            EventSourceArn=self.queue_arn,
            FunctionName=FUNCTION,
            BatchSize=batch_size,
            MaximumBatchingWindowInSeconds=0,
            FunctionResponseTypes=["ReportBatchItemFailures"] if report else [],
            ScalingConfig={"MaximumConcurrency": 2},
        )["UUID"]

    def send(self, bodies: list[str]) -> list[str]:
        ids = []
        for start in range(0, len(bodies), 10):
            resp = self.sqs.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])],
            )
            assert not resp.get("Failed")
            ids += [s["MessageId"] for s in sorted(resp["Successful"], key=lambda s: int(s["Id"]))]
        return ids

    def run(self) -> dict:
        summary = runtime.run(self.target, state_dir=self.state_dir, zip_path=self.zip_path, max_seconds=60).to_dict()
        assert not summary["timed_out"], summary
        (m,) = summary["mappings"]
        return m

    def invocations(self) -> list[list[dict]]:
        if not self.deliveries.exists():
            return []
        return [json.loads(line)["records"] for line in self.deliveries.read_text().splitlines()]

    def delivered_bodies(self) -> Counter:
        return Counter(r["body"] for inv in self.invocations() for r in inv)

    def depth(self, url: str) -> tuple[int, int]:
        a = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def dlq_bodies(self) -> list[str]:
        out = []
        while True:
            msgs = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
            if not msgs:
                return out
            out += [m["Body"] for m in msgs]
            self.sqs.delete_message_batch(
                QueueUrl=self.dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
            )


@pytest.fixture
def qs(moto_endpoint, code_zip, tmp_path) -> QueueSandbox:
    return QueueSandbox(moto_endpoint, tmp_path, code_zip)


def test_the_handler_gets_a_real_sqs_event(qs):
    qs.queues()
    qs.function()
    qs.mapping()
    qs.sqs.send_message(
        QueueUrl=qs.queue_url,
        MessageBody='{"device_id": "dev-1"}',
        MessageAttributes={
            "origin": {"DataType": "String", "StringValue": "ingest"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    qs.run()
    ((record,),) = qs.invocations()
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert (
        record["eventSource"] == "aws:sqs"
        and record["eventSourceARN"] == qs.queue_arn
        and record["awsRegion"] == REGION
    )
    assert (
        record["body"] == '{"device_id": "dev-1"}'
        and record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    )
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"]["origin"] == {
        "stringValue": "ingest",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert (
        record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
        and record["messageAttributes"]["blob"]["dataType"] == "Binary"
    )


def test_every_message_is_delivered_once_in_batches_of_at_most_the_batch_size_and_deleted(qs):
    qs.queues()
    qs.function()
    uuid = qs.mapping(batch_size=7)
    bodies = [f"job-{i}" for i in range(30)]
    qs.send(bodies)
    m = qs.run()
    assert qs.delivered_bodies() == Counter(bodies)
    assert all(len(inv) <= 7 for inv in qs.invocations()) and len(qs.invocations()) >= 5
    assert qs.depth(qs.queue_url) == (0, 0)
    assert m["uuid"] == uuid and m["records_delivered"] == 30 and m["messages_deleted"] == 30
    assert m["function_errors"] == m["partial_failures"] == m["messages_failed"] == 0
    # nothing failed, so nothing was in flight to wait for: a queue with visible messages is never waited on
    assert m["in_flight_waits"] == 0 and m["in_flight_wait_s"] == 0


def test_a_failing_message_is_retried_alone_and_reaches_the_dlq_after_max_receive_count(qs):
    qs.queues(visibility_timeout=1, max_receive_count=2)
    qs.function()
    qs.mapping()
    bodies = ["job-1", "bad-1", "job-2", "job-3"]
    qs.send(bodies)

    m = qs.run()  # until idle: waits out the visibility timeout until the bad message has left the queue

    delivered = qs.delivered_bodies()
    assert delivered["bad-1"] == 2  # maxReceiveCount receives, then SQS moved it
    assert all(delivered[b] == 1 for b in bodies if b != "bad-1")  # the others were deleted after their first delivery
    assert qs.dlq_bodies() == ["bad-1"]
    assert qs.depth(qs.queue_url) == (0, 0)
    receive_counts = [
        r["attributes"]["ApproximateReceiveCount"] for inv in qs.invocations() for r in inv if r["body"] == "bad-1"
    ]
    assert receive_counts == ["1", "2"]
    assert (
        m["messages_deleted"] == 3
        and m["messages_failed"] == 2
        and m["partial_failures"] == 2
        and m["in_flight_waits"] > 0
    )
    # what the run waited for is in its summary: the queue's visibility timeout, waited out by the failed deliveries
    assert m["visibility_timeout_s"] == 1 and m["in_flight_wait_s"] > 0


def test_a_message_that_fails_once_succeeds_on_redelivery_and_never_reaches_the_dlq(qs):
    qs.queues(visibility_timeout=1, max_receive_count=3)
    qs.function()
    qs.mapping()
    qs.send(["flaky-1", "job-1"])
    m = qs.run()
    assert qs.delivered_bodies() == Counter({"flaky-1": 2, "job-1": 1})
    assert qs.dlq_bodies() == [] and qs.depth(qs.queue_url) == (0, 0)
    assert m["retries"] == 1  # one re-delivered message


def test_a_function_error_leaves_the_whole_batch_for_redelivery(qs):
    qs.queues(visibility_timeout=1, max_receive_count=3)
    qs.function(mode="raise-once")
    qs.mapping()
    qs.send(["job-1", "job-2", "job-3"])
    m = qs.run()
    assert qs.delivered_bodies() == Counter({"job-1": 2, "job-2": 2, "job-3": 2})
    assert m["function_errors"] == 1 and m["messages_deleted"] == 3 and qs.dlq_bodies() == []


def test_an_item_identifier_that_is_not_in_the_batch_fails_the_whole_batch(qs):
    qs.queues(visibility_timeout=1, max_receive_count=3)
    qs.function(mode="bogus-id")
    qs.mapping()
    qs.send(["job-1", "job-2"])
    m = qs.run()
    assert qs.delivered_bodies() == Counter({"job-1": 2, "job-2": 2})  # nothing was deleted after the malformed answer
    assert m["function_errors"] == 1 and qs.depth(qs.queue_url) == (0, 0)


def test_without_report_batch_item_failures_a_returned_list_is_ignored(qs):
    qs.queues(visibility_timeout=1, max_receive_count=2)
    qs.function()
    qs.mapping(report=False)
    qs.send(["bad-1", "job-1"])
    qs.run()
    assert qs.delivered_bodies() == Counter({"bad-1": 1, "job-1": 1})  # success as far as Lambda knows: both deleted
    assert qs.dlq_bodies() == []


def test_until_idle_does_not_wait_forever_on_a_queue_without_a_redrive_policy(qs):
    qs.queues(visibility_timeout=30, max_receive_count=None)
    qs.function()
    qs.mapping()
    qs.send(["bad-1", "job-1"])
    m = qs.run()
    assert qs.delivered_bodies() == Counter({"bad-1": 1, "job-1": 1})
    assert m["left_in_flight"] == 1 and qs.depth(qs.queue_url) == (0, 1)  # still on the queue, not lost


def test_the_sandbox_server_leaves_a_mapped_queue_to_the_runtime(qs):
    """moto alone would receive every new message itself (bumping receive counts toward the DLQ) and try to
    invoke the function in Docker; the sandbox's patched server stores the mapping and leaves the queue alone."""
    qs.queues(visibility_timeout=30, max_receive_count=1)
    qs.function()
    qs.mapping()
    qs.send([f"job-{i}" for i in range(12)])
    assert qs.depth(qs.queue_url) == (12, 0)
    msgs = qs.sqs.receive_message(QueueUrl=qs.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])[
        "Messages"
    ]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in msgs} == {"1"}
    assert qs.depth(qs.dlq_url) == (0, 0)
