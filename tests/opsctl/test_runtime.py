"""The local Lambda runtime against a moto server of the tests' own: real Kinesis records, a real Lambda
function (a zip of small test handlers built with opsctl.core.packaging), real event source mappings, and
outcomes read back from the stream's consumers' point of view: what each invocation received, what is
in the on-failure queue, what CloudWatch holds."""

from __future__ import annotations

import base64
import json
import os
import textwrap
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest

from opsctl.core.aws import AwsTarget
from opsctl.core.errors import OpsError
from opsctl.core.packaging import build_zip
from opsctl.sandbox.runtime import kinesis as runtime_kinesis
from opsctl.sandbox.runtime import runner as runtime
from opsctl.sandbox.server import free_port

REGION = "us-east-1"
FUNCTION = "rt-consumer"

# Test handlers, shipped in a zip the way functions/ is. Each invocation appends one JSON line to
# DELIVERIES (what it received); MODE says how the handler answers.
HANDLERS = """
import json, os, sys

def _seen_path():
    return os.environ["DELIVERIES"] + ".seen"

def _first_time(key):
    path = _seen_path()
    seen = set(open(path).read().split()) if os.path.exists(path) else set()
    if key in seen:
        return False
    with open(path, "a") as fh:
        fh.write(key + "\\n")
    return True

def handler(event, context):
    import base64
    records = [(r["eventID"].split(":")[0], r["kinesis"]["sequenceNumber"],
                base64.b64decode(r["kinesis"]["data"]).decode())
               for r in event["Records"]]
    with open(os.environ["DELIVERIES"], "a") as fh:
        fh.write(json.dumps({"records": records, "request_id": context.aws_request_id,
                             "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
                             "table": os.environ.get("TABLE_NAME"),
                             "remaining_ms": context.get_remaining_time_in_millis(),
                             "arn": context.invoked_function_arn,
                             "memory": context.memory_limit_in_mb, "log_group": context.log_group_name,
                             "event_record": event["Records"][0]}) + "\\n")
    print(json.dumps({"level": "INFO", "message": "batch", "records": len(records)}))
    emf = {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "RuntimeTest", "Dimensions": [["FunctionName"]],
                                                  "Metrics": [{"Name": "RecordsSeen", "Unit": "Count"}]}]}
    print(json.dumps({"_aws": emf, "FunctionName": context.function_name, "RecordsSeen": len(records)}))
    mode = os.environ.get("MODE", "ok")
    if mode == "poison" and any(data == "poison" for _, _, data in records):
        raise ValueError("cannot digest poison")
    if mode == "raise":
        raise RuntimeError("always fails")
    if mode == "hang":  # far past any timeout, in small steps, then leaves a mark a stopped handler never leaves
        import time
        for _ in range(600):
            time.sleep(0.05)
        open(os.environ["DELIVERIES"] + ".finished", "w").close()
    if mode == "partial-once":
        failed = [seq for _, seq, data in records if data.startswith("flaky") and _first_time(seq)]
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}
    if mode == "answer-once":
        if _first_time("answer"):
            return json.loads(os.environ["ANSWER"])
        return None
    return {"batchItemFailures": []}
"""


@pytest.fixture(scope="module")
def code_zip(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("functions")
    (src / "rtfns").mkdir()
    (src / "rtfns" / "__init__.py").write_text("")
    (src / "rtfns" / "handlers.py").write_text(textwrap.dedent(HANDLERS))
    dest = tmp_path_factory.mktemp("build") / "functions.zip"
    build_zip(src, dest)
    return dest


class Sandbox:
    """One test's resources on the shared moto server (reset before each test)."""

    def __init__(self, endpoint: str, tmp_path: Path, zip_path: Path):
        self.endpoint = endpoint
        self.tmp_path = tmp_path
        self.zip_path = zip_path
        self.state_dir = tmp_path / "state"
        self.deliveries = tmp_path / "deliveries.jsonl"
        self.target = AwsTarget(region=REGION, endpoint_url=endpoint, sandbox=True)
        self.stream_arn = None
        self.queue_url = None
        self.queue_arn = None
        self.role = None

    def client(self, service):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )

    def stream(self, shards: int = 1, name: str = "readings") -> str:
        k = self.client("kinesis")
        k.create_stream(StreamName=name, ShardCount=shards)
        self.stream_arn = k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        return self.stream_arn

    def put(self, datas: list[str], keys: list[str] | None = None) -> list[tuple[str, str, str]]:
        """Puts records one by one (so arrival order is put order); returns (shard, seq, data) each."""
        k = self.client("kinesis")
        out = []
        for i, data in enumerate(datas):
            resp = k.put_record(
                StreamARN=self.stream_arn, Data=data.encode(), PartitionKey=(keys[i] if keys else f"dev-{i % 7}")
            )
            out.append((resp["ShardId"], resp["SequenceNumber"], data))
        return out

    def function(self, *, mode: str = "ok", zip_bytes: bytes | None = None, timeout: int = 30, **env) -> str:
        iam = self.client("iam")
        self.role = iam.create_role(
            RoleName="rt-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )["Role"]["Arn"]
        variables = {"DELIVERIES": str(self.deliveries), "MODE": mode, "TABLE_NAME": "telemetry", **env}
        self.client("lambda").create_function(
            FunctionName=FUNCTION,
            Runtime="python3.11",
            Role=self.role,
            Handler="rtfns.handlers.handler",
            Code={"ZipFile": zip_bytes or self.zip_path.read_bytes()},
            Timeout=timeout,
            MemorySize=256,
            Environment={"Variables": variables},
        )
        return FUNCTION

    def failure_queue(self) -> str:
        sqs = self.client("sqs")
        self.queue_url = sqs.create_queue(QueueName="rt-failures")["QueueUrl"]
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return self.queue_arn

    def mapping(self, **options) -> str:
        if options.pop("destination", False):
            options["DestinationConfig"] = {"OnFailure": {"Destination": self.failure_queue()}}
        m = self.client("lambda").create_event_source_mapping(
            EventSourceArn=self.stream_arn, FunctionName=FUNCTION, StartingPosition="TRIM_HORIZON", **options
        )
        return m["UUID"]

    def run(self, **kwargs) -> dict:
        kwargs.setdefault("state_dir", self.state_dir)
        kwargs.setdefault("zip_path", self.zip_path)
        kwargs.setdefault("max_seconds", 60)
        summary = runtime.run(self.target, **kwargs).to_dict()
        assert not summary["timed_out"], summary
        return summary

    def invocations(self) -> list[dict]:
        if not self.deliveries.exists():
            return []
        return [json.loads(line) for line in self.deliveries.read_text().splitlines()]

    def delivered(self) -> list[tuple[str, str, str]]:
        return [tuple(r) for inv in self.invocations() for r in inv["records"]]

    def failure_messages(self) -> list[dict]:
        sqs = self.client("sqs")
        out = []
        while True:
            msgs = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not msgs:
                return out
            out += [json.loads(m["Body"]) for m in msgs]
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
            )


@pytest.fixture
def sb(moto_endpoint, code_zip, tmp_path) -> Sandbox:
    return Sandbox(moto_endpoint, tmp_path, code_zip)


def _mapping(summary: dict) -> dict:
    (m,) = summary["mappings"]
    return m


def _seq(s: str) -> int:
    return int(s)


# -- delivery and order ------------------------------------------------------------------------------


def test_every_record_is_delivered_once_in_per_shard_order(sb):
    sb.stream(shards=3)
    sb.function()
    uuid = sb.mapping(BatchSize=40)
    sent = sb.put([f"r{i}" for i in range(250)], keys=[f"dev-{i % 13}" for i in range(250)])
    m = _mapping(sb.run())
    delivered = sb.delivered()
    assert Counter(delivered) == Counter(sent)  # each exactly once, data intact
    for shard in {s for s, _, _ in sent}:
        seqs = [_seq(q) for s, q, _ in delivered if s == shard]
        assert seqs == sorted(seqs)
    assert len({s for s, _, _ in sent}) > 1  # really several shards
    assert m["uuid"] == uuid and m["function_name"] == FUNCTION and m["source"] == sb.stream_arn
    assert m["records_delivered"] == 250 and m["invocations"] == len(sb.invocations())
    assert all(len(inv["records"]) <= 40 for inv in sb.invocations())
    assert m["function_errors"] == m["retries"] == m["bisections"] == m["on_failure_records"] == 0


def test_handler_gets_a_real_kinesis_event_context_and_environment(sb):
    sb.stream()
    sb.function(timeout=45)
    sb.mapping(BatchSize=10)
    ((shard, seq, _),) = sb.put(['{"device_id": "dev-1"}'], keys=["dev-1"])
    before = time.time()
    sb.run()
    (inv,) = sb.invocations()
    rec = inv["event_record"]
    assert set(rec) == {
        "kinesis",
        "eventSource",
        "eventVersion",
        "eventID",
        "eventName",
        "invokeIdentityArn",
        "awsRegion",
        "eventSourceARN",
    }
    assert (
        rec["eventSource"] == "aws:kinesis"
        and rec["eventVersion"] == "1.0"
        and rec["eventName"] == "aws:kinesis:record"
    )
    assert rec["eventID"] == f"{shard}:{seq}" and rec["eventSourceARN"] == sb.stream_arn and rec["awsRegion"] == REGION
    assert rec["invokeIdentityArn"] == sb.role
    k = rec["kinesis"]
    assert k["kinesisSchemaVersion"] == "1.0" and k["partitionKey"] == "dev-1" and k["sequenceNumber"] == seq
    assert base64.b64decode(k["data"]) == b'{"device_id": "dev-1"}'
    assert (
        isinstance(k["approximateArrivalTimestamp"], float)
        and before - 60 < k["approximateArrivalTimestamp"] <= time.time()
    )
    assert inv["function_name"] == FUNCTION and inv["table"] == "telemetry"
    assert 40_000 < inv["remaining_ms"] <= 45_000 and inv["arn"].endswith(f":function:{FUNCTION}")
    assert inv["memory"] == "256" and inv["log_group"] == f"/aws/lambda/{FUNCTION}"
    assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ and os.environ.get("TABLE_NAME") != "telemetry"  # restored
    log = (sb.state_dir / "logs" / f"{FUNCTION}.log").read_text()
    assert f"START RequestId: {inv['request_id']}" in log and f"REPORT RequestId: {inv['request_id']}" in log
    assert '"message": "batch"' in log


def test_checkpoints_survive_a_second_run_and_from_start_replays_everything(sb):
    sb.stream(shards=2)
    sb.function()
    sb.mapping(BatchSize=25)
    first = sb.put([f"a{i}" for i in range(60)])
    sb.run()
    assert (sb.state_dir / "checkpoints.json").exists()
    assert _mapping(sb.run())["records_delivered"] == 0  # nothing re-delivered
    second = sb.put([f"b{i}" for i in range(15)])
    assert _mapping(sb.run())["records_delivered"] == 15
    assert Counter(sb.delivered()) == Counter(first + second)
    replay = _mapping(sb.run(from_start=True))
    assert replay["records_delivered"] == 75
    assert Counter(sb.delivered()) == Counter((first + second) * 2)


# -- ReportBatchItemFailures -------------------------------------------------------------------------


def test_partial_batch_failure_redelivers_from_the_lowest_failed_record_only(sb):
    sb.stream()
    sb.function(mode="partial-once")
    sb.mapping(BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    sent = sb.put(["ok0", "ok1", "ok2", "flaky3", "ok4", "ok5", "flaky6", "ok7", "ok8", "ok9"])
    m = _mapping(sb.run())
    first, second = sb.invocations()
    assert [tuple(r) for r in first["records"]] == sent
    assert [tuple(r) for r in second["records"]] == sent[3:]  # from flaky3, not before it
    assert (
        m["partial_failures"] == 1 and m["retries"] == 1 and m["function_errors"] == 0 and m["on_failure_records"] == 0
    )


@pytest.mark.parametrize("answer", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_an_empty_answer_is_success(sb, answer):
    sb.stream()
    sb.function(mode="answer-once", ANSWER=json.dumps(answer))
    sb.mapping(BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    sb.put(["a", "b", "c"])
    m = _mapping(sb.run())
    assert m["invocations"] == 1 and m["function_errors"] == 0 and m["partial_failures"] == 0


@pytest.mark.parametrize(
    "answer",
    [
        "ok",
        [1],
        {"status": "done"},
        {"batchItemFailures": "all"},
        {"batchItemFailures": [{"itemIdentifier": "123456789"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"id": "1"}]},
    ],
)
def test_a_malformed_answer_fails_the_whole_batch(sb, answer):
    sb.stream()
    sb.function(mode="answer-once", ANSWER=json.dumps(answer))
    sb.mapping(BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"], MaximumRetryAttempts=3)
    sent = sb.put(["a", "b", "c"])
    m = _mapping(sb.run())
    first, second = sb.invocations()
    assert [tuple(r) for r in first["records"]] == sent == [tuple(r) for r in second["records"]]
    assert m["function_errors"] == 1 and m["retries"] == 1 and m["partial_failures"] == 0


# -- poison, retries, bisect, destinations -----------------------------------------------------------


def test_poison_record_is_bisected_out_sent_once_to_the_destination_and_does_not_block_the_shard(sb):
    sb.stream()
    sb.function(mode="poison")
    sb.mapping(BatchSize=10, BisectBatchOnFunctionError=True, MaximumRetryAttempts=2, destination=True)
    datas = [f"r{i}" for i in range(10)]
    datas[3] = "poison"
    sent = sb.put([*datas, "after0", "after1"])
    m = _mapping(sb.run())

    (msg,) = sb.failure_messages()
    poison = sent[3]
    assert set(msg) == {"requestContext", "responseContext", "version", "timestamp", "KinesisBatchInfo"}
    assert set(msg["requestContext"]) == {"requestId", "functionArn", "condition", "approximateInvokeCount"}
    assert msg["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert msg["requestContext"]["functionArn"].endswith(f":function:{FUNCTION}")
    assert msg["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert msg["version"] == "1.0" and msg["timestamp"].endswith("Z") and "T" in msg["timestamp"]
    info = msg["KinesisBatchInfo"]
    assert set(info) == {
        "shardId",
        "startSequenceNumber",
        "endSequenceNumber",
        "approximateArrivalOfFirstRecord",
        "approximateArrivalOfLastRecord",
        "batchSize",
        "streamArn",
    }
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        poison[0],
        poison[1],
        poison[1],
        1,
    )
    assert info["streamArn"] == sb.stream_arn and info["approximateArrivalOfFirstRecord"].endswith("Z")

    alone = [inv for inv in sb.invocations() if [tuple(r) for r in inv["records"]] == [poison]]
    assert len(alone) == 3  # bisected down to it, then the first try and 2 retries
    assert msg["requestContext"]["requestId"] == alone[-1]["request_id"]
    assert msg["requestContext"]["approximateInvokeCount"] == sum(
        poison in map(tuple, inv["records"]) for inv in sb.invocations()
    )
    # Every other record reached the function, the ones after the poison included, in order.
    good = [r for r in sent if r != poison]
    assert set(good) <= set(sb.delivered())
    assert sb.invocations()[-1]["records"][-1] == list(sent[-1])
    assert (
        m["retries"] == 2
        and m["bisections"] >= 3
        and m["on_failure_records"] == 1
        and m["on_failure_batch_records"] == 1
    )
    log = (sb.state_dir / "logs" / f"{FUNCTION}.log").read_text()
    # As Lambda's Python runtime writes an unhandled exception with the default Text log format.
    assert (
        log.count("[ERROR] ValueError: cannot digest poison\nTraceback (most recent call last):\n")
        == m["function_errors"]
    )
    assert m["records_discarded_without_destination"] == 0


def test_a_handler_running_past_its_timeout_is_stopped_and_its_batch_is_a_function_error(sb):
    sb.stream()
    sb.function(mode="hang", timeout=1)
    sb.mapping(BatchSize=10, MaximumRetryAttempts=0, destination=True)
    sb.put(["a", "b", "c"], keys=["dev-1"] * 3)
    m = _mapping(sb.run())
    assert m["function_errors"] >= 1 and m["on_failure_records"] >= 1 and m["on_failure_batch_records"] == 3
    log = (sb.state_dir / "logs" / f"{FUNCTION}.log").read_text()
    assert log.count("Task timed out after 1.00 seconds") == m["function_errors"]
    assert "Duration: 1000.00 ms\tBilled Duration: 1000 ms" in log
    import threading

    for worker in [t for t in threading.enumerate() if t.name == f"lambda:{FUNCTION}"]:
        worker.join(30)  # the stopped handler's thread ends at its next bytecode
        assert not worker.is_alive()
    assert not Path(str(sb.deliveries) + ".finished").exists()  # it never ran on to its end


def test_without_bisect_the_whole_batch_goes_to_the_destination_after_the_retries(sb):
    sb.stream()
    sb.function(mode="poison")
    sb.mapping(BatchSize=5, MaximumRetryAttempts=1, destination=True)
    sent = sb.put(["a", "poison", "c", "d", "e", "f", "g"])
    m = _mapping(sb.run())
    (msg,) = sb.failure_messages()
    info = msg["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (sent[0][1], sent[4][1], 5)
    assert msg["requestContext"]["approximateInvokeCount"] == 2
    assert [tuple(r) for r in sb.invocations()[-1]["records"]] == sent[5:]  # the shard moved on
    assert m["function_errors"] == 2 and m["retries"] == 1 and m["bisections"] == 0


def test_without_a_destination_exhausted_records_are_counted_as_discarded(sb):
    sb.stream()
    sb.function(mode="poison")
    sb.mapping(BatchSize=4, MaximumRetryAttempts=0)
    sb.put(["poison", "b", "c", "d", "e"])
    m = _mapping(sb.run())
    assert m["records_discarded_without_destination"] == 4 and m["on_failure_records"] == 0
    assert m["invocations"] == 2 and m["records_delivered"] == 5


def test_records_older_than_the_maximum_age_are_not_retried(sb, monkeypatch):
    sb.stream()
    sb.function(mode="raise")
    sb.mapping(BatchSize=10, MaximumRecordAgeInSeconds=60, destination=True)  # infinite retries by default
    sent = sb.put(["a", "b", "c"])
    skew = {"s": 0.0}
    monkeypatch.setattr(runtime_kinesis, "clock", lambda: time.time() + skew["s"])

    def on_event(kind, details):
        if kind == "invoke":
            skew["s"] = 120.0  # the first attempt took two minutes, as far as record age goes

    m = _mapping(sb.run(on_event=on_event))
    (msg,) = sb.failure_messages()
    assert msg["requestContext"]["condition"] == "RecordAgeExceeded"
    assert msg["requestContext"]["approximateInvokeCount"] == 1
    info = msg["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (sent[0][1], sent[-1][1], 3)
    assert len(sb.invocations()) == 1 and m["records_expired_by_age"] == 3 and m["retries"] == 0


# -- resharding ----------------------------------------------------------------------------------------


def _assert_parents_before_children(sb, delivered) -> int:
    position = {r: i for i, r in enumerate(delivered)}
    checked = 0
    for s in sb.client("kinesis").list_shards(StreamARN=sb.stream_arn)["Shards"]:
        mine = [position[r] for r in delivered if r[0] == s["ShardId"]]
        for parent in filter(None, (s.get("ParentShardId"), s.get("AdjacentParentShardId"))):
            theirs = [position[r] for r in delivered if r[0] == parent]
            if mine and theirs:
                assert max(theirs) < min(mine), f"{s['ShardId']} started before its parent {parent} was finished"
                checked += 1
    return checked


def test_a_merged_shard_is_read_only_after_both_parents_are_finished(sb):
    sb.stream(shards=2)
    sb.function()
    sb.mapping(BatchSize=10)
    k = sb.client("kinesis")
    before = sb.put([f"p{i}" for i in range(40)], keys=[f"dev-{i}" for i in range(40)])
    parents = sorted({s for s, _, _ in before})
    assert len(parents) == 2
    k.merge_shards(StreamARN=sb.stream_arn, ShardToMerge=parents[0], AdjacentShardToMerge=parents[1])
    sb.run()
    delivered = sb.delivered()
    # moto copies the parents' records into the merged child (AWS would not): the child's are extra, not lost.
    child = [r for r in delivered if r[0] not in parents]
    assert child and Counter(r for r in delivered if r[0] in parents) == Counter(before)
    assert _assert_parents_before_children(sb, delivered) == 2


def test_resharding_between_runs_loses_nothing_and_finishes_parents_first(sb):
    sb.stream(shards=1)
    sb.function()
    sb.mapping(BatchSize=20)
    k = sb.client("kinesis")
    sent = sb.put([f"p{i}" for i in range(50)])
    sb.run()  # the parent is read to its end while still open
    sent += sb.put([f"q{i}" for i in range(30)])
    k.update_shard_count(StreamARN=sb.stream_arn, TargetShardCount=2, ScalingType="UNIFORM_SCALING")
    m = _mapping(sb.run())
    assert Counter(sb.delivered()) == Counter(sent)  # nothing lost, nothing twice
    shards = {s["shard_id"]: s for s in m["shards"]}
    assert len(shards) == 3 and all(s["finished"] for s in shards.values() if s["closed"])
    # moto routes later puts to the closed parent still; a second run must not lose them.
    sent += sb.put([f"c{i}" for i in range(30)], keys=[f"dev-{i}" for i in range(30)])
    sb.run()
    assert Counter(sb.delivered()) == Counter(sent)
    _assert_parents_before_children(sb, sb.delivered())


# -- code, metrics, errors ----------------------------------------------------------------------------


def test_deployed_code_that_is_not_the_zip_is_refused(sb, tmp_path):
    sb.stream()
    other = tmp_path / "other" / "functions.zip"
    src = tmp_path / "othersrc"
    src.mkdir()
    (src / "x.py").write_text("def handler(e, c):\n    return None\n")
    build_zip(src, other)
    sb.function(zip_bytes=other.read_bytes())
    sb.mapping()
    with pytest.raises(OpsError, match=f"the deployed code of {FUNCTION} is not") as exc:
        runtime.run(sb.target, state_dir=sb.state_dir, zip_path=sb.zip_path)
    assert "opsctl sandbox up" in exc.value.hint


def test_lambda_metrics_and_the_handlers_emf_reach_cloudwatch(sb):
    sb.stream()
    sb.function(mode="poison")
    sb.mapping(BatchSize=5, MaximumRetryAttempts=0)
    sb.put(["a", "b", "c", "d", "e", "poison"])
    time.sleep(0.2)  # measurable iterator age
    m = _mapping(sb.run())
    cw = sb.client("cloudwatch")
    dims = [{"Name": "FunctionName", "Value": FUNCTION}]
    names = {x["MetricName"] for x in cw.list_metrics(Namespace="AWS/Lambda", Dimensions=dims)["Metrics"]}
    assert {"Invocations", "Errors", "Duration", "IteratorAge"} <= names

    def total(namespace, name, stat="Sum"):
        now = time.time()
        points = cw.get_metric_statistics(
            Namespace=namespace,
            MetricName=name,
            Dimensions=dims,
            StartTime=now - 3600,
            EndTime=now + 60,
            Period=60,
            Statistics=[stat],
        )["Datapoints"]
        return sum(p[stat] for p in points) if stat == "Sum" else max(p[stat] for p in points)

    assert total("AWS/Lambda", "Invocations") == m["invocations"] == 2
    assert total("AWS/Lambda", "Errors") == 1
    assert total("AWS/Lambda", "IteratorAge", "Maximum") >= 200
    emf = {x["MetricName"] for x in cw.list_metrics(Namespace="RuntimeTest", Dimensions=dims)["Metrics"]}
    assert emf == {"RecordsSeen"}


def test_a_handler_override_runs_in_place_of_the_deployed_handler(sb):
    sb.stream()
    sb.function()
    sb.mapping(BatchSize=10)
    sent = sb.put(["x", "y"])
    got = []

    def naive(event, context):
        got.extend(
            (r["kinesis"]["sequenceNumber"], base64.b64decode(r["kinesis"]["data"]).decode()) for r in event["Records"]
        )
        assert context.function_name == FUNCTION

    assert _mapping(sb.run(handler_overrides={FUNCTION: naive}))["records_delivered"] == 2
    assert got == [(q, d) for _, q, d in sent] and sb.invocations() == []


def test_no_event_source_mappings_is_a_one_line_error(sb):
    with pytest.raises(OpsError, match="no event source mappings in the sandbox"):
        runtime.run(sb.target, state_dir=sb.state_dir, zip_path=sb.zip_path)


def test_an_unreachable_sandbox_is_a_one_line_error(tmp_path, code_zip):
    target = AwsTarget(region=REGION, endpoint_url=f"http://127.0.0.1:{free_port()}", sandbox=True)
    with pytest.raises(OpsError, match="does not answer") as exc:
        runtime.run(target, state_dir=tmp_path, zip_path=code_zip)
    assert "opsctl sandbox up" in exc.value.hint


def test_max_seconds_stops_a_blocked_shard_and_says_so(sb):
    sb.stream()
    sb.function(mode="raise")
    sb.mapping(BatchSize=5)  # infinite retries, no age limit: a bad batch blocks its shard, as on AWS
    sb.put(["a"])
    # 5 s: long enough for a retry even when the suite's parallel workers load the machine (a function process
    # takes a second or two to start there), short enough to keep the test quick.
    summary = runtime.run(sb.target, state_dir=sb.state_dir, zip_path=sb.zip_path, max_seconds=5).to_dict()
    assert (
        summary["timed_out"] is True and 5 <= summary["seconds"] < 120
    )  # a hang guard, not a speed claim: the run must end on its own
    assert _mapping(summary)["retries"] > 0


def test_emf_documents_become_metric_data_per_dimension_set():
    from opsctl.sandbox.runtime.function import emf_metric_data

    doc = {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "TelemetryPipeline",
                    "Dimensions": [["FunctionName"], ["FunctionName", "Environment"], ["Missing"]],
                    "Metrics": [
                        {"Name": "RecordsIn", "Unit": "Count"},
                        {"Name": "Latency", "Unit": "Milliseconds"},
                        {"Name": "Label", "Unit": "None"},
                        {"Name": "Absent"},
                    ],
                }
            ],
        },
        "FunctionName": "ingest",
        "Environment": "local",
        "RecordsIn": 7,
        "Latency": [1.5, 2.5],
        "Label": "x",
    }
    data = emf_metric_data(doc)
    assert {ns for ns, _ in data} == {"TelemetryPipeline"}
    by = {(d["MetricName"], tuple(x["Name"] for x in d["Dimensions"])): d for _, d in data}
    assert set(by) == {
        ("RecordsIn", ("FunctionName",)),
        ("RecordsIn", ("FunctionName", "Environment")),
        ("Latency", ("FunctionName",)),
        ("Latency", ("FunctionName", "Environment")),
    }
    assert (
        by[("RecordsIn", ("FunctionName",))]["Value"] == 7.0 and by[("RecordsIn", ("FunctionName",))]["Unit"] == "Count"
    )
    assert by[("Latency", ("FunctionName",))]["Values"] == [1.5, 2.5]
    assert by[("RecordsIn", ("FunctionName",))]["Timestamp"] == 1_700_000_000
    assert emf_metric_data({"message": "not emf"}) == [] and emf_metric_data({"_aws": "bad"}) == []


def test_follow_mode_delivers_what_arrives_later_in_batches_held_open_by_the_window(sb):
    import threading

    sb.stream()
    sb.function()
    # A 4 s window for records sent 0.5 s apart: room for a machine loaded by the suite's parallel workers.
    sb.mapping(BatchSize=50, MaximumBatchingWindowInSeconds=4)
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(
            runtime.run(
                sb.target, state_dir=sb.state_dir, zip_path=sb.zip_path, until_idle=False, max_seconds=8
            ).to_dict()
        )
    )
    worker.start()
    time.sleep(0.5)
    sent = sb.put(["late0"])
    time.sleep(0.5)
    sent += sb.put(["late1", "late2"])
    worker.join(timeout=30)
    assert result["timed_out"] is True
    (inv,) = sb.invocations()  # one batch: the window kept it open for the records that came 0.5 s later
    assert [tuple(r) for r in inv["records"]] == sent


def test_an_sns_on_failure_destination_gets_the_same_record(sb):
    sb.stream()
    sb.function(mode="raise")
    sns = sb.client("sns")
    topic = sns.create_topic(Name="rt-failures")["TopicArn"]
    sb.failure_queue()
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sb.queue_arn, Attributes={"RawMessageDelivery": "true"})
    sb.mapping(BatchSize=10, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": topic}})
    sent = sb.put(["a", "b"])
    m = _mapping(sb.run())
    (msg,) = sb.failure_messages()
    assert msg["KinesisBatchInfo"]["startSequenceNumber"] == sent[0][1] and msg["KinesisBatchInfo"]["batchSize"] == 2
    assert msg["requestContext"]["condition"] == "RetryAttemptsExhausted" and m["on_failure_records"] == 1
