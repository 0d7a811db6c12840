"""`opsctl sandbox fault`: a window of DynamoDB throttling or errors, SQS or S3 errors, held by the sandbox's moto
server and applied in its request path, so any client gets AWS's own error codes until the window ends by itself
(or is cleared); DynamoDB's are counted in AWS/DynamoDB as CloudWatch would count them."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from opsctl.core.errors import OpsError
from opsctl.sandbox import cw_metrics, faults, server

REGION = "us-east-1"


def test_a_fault_holds_for_its_seconds_then_ends_by_itself():
    now = [1000.0]
    store = faults.FaultStore(clock=lambda: now[0])
    store.start("dynamodb-error", "readings", 30)
    assert store.hit("dynamodb-error", "readings")
    assert not store.hit("dynamodb-error", "rollups") and not store.hit("dynamodb-throttle", "readings")
    now[0] += 29.9
    assert store.hit("dynamodb-error", "readings")
    assert [f.to_dict(now[0])["seconds_left"] for f in store.active()] == [0.1]
    now[0] += 0.1
    assert not store.hit("dynamodb-error", "readings") and store.active() == []  # over, without anyone's help
    store.start("sqs-error", "jobs", 10)
    store.start("sqs-error", "jobs", 60)  # again: one fault, with the new end
    assert [(f.kind, f.ends_at - now[0]) for f in store.active()] == [("sqs-error", 60.0)]
    assert store.clear() == 1 and not store.hit("sqs-error", "jobs")


def test_a_counted_fault_fails_its_requests_then_ends_and_its_seconds_still_bound_it():
    now = [1000.0]
    store = faults.FaultStore(clock=lambda: now[0])
    store.start("dynamodb-error", "readings", 120, requests=3)
    assert [f.to_dict(now[0])["requests_left"] for f in store.active()] == [3]
    assert not store.hit("dynamodb-error", "rollups")  # another table's request is not counted
    now[0] += 100  # however late the requests come, within the window
    assert [store.hit("dynamodb-error", "readings") for _ in range(4)] == [True, True, True, False]
    assert store.active() == []  # ended with its last request
    store.start("sqs-error", "jobs", 10, requests=5)
    store.hit("sqs-error", "jobs")
    now[0] += 10
    assert not store.hit("sqs-error", "jobs") and store.active() == []  # out of time with 4 requests left
    store.start("s3-error", "bucket", 10)
    assert [f.to_dict(now[0])["requests_left"] for f in store.active()] == [None]  # every request until its end


@pytest.mark.parametrize(
    ("kind", "requests", "message"),
    [
        ("function-crash", 3, "a function-crash lasts --seconds only"),
        ("dynamodb-error", 0, "--requests must be 1 to 10,000 (requests)"),
        ("dynamodb-error", 10_001, "--requests must be 1 to 10,000 (requests)"),
        ("dynamodb-error", 2.5, "--requests must be 1 to 10,000 (requests)"),
    ],
)
def test_a_count_a_fault_cannot_keep_is_refused(kind, requests, message):
    with pytest.raises(faults.FaultError, match=message.replace("(", r"\(").replace(")", r"\)")):
        faults.FaultStore().start(kind, "t", 10, requests=requests)


@pytest.mark.parametrize(
    ("kind", "target", "seconds", "message"),
    [
        ("dynamodb-eror", "t", 10, "unknown fault kind 'dynamodb-eror'"),
        ("s3-error", "", 10, "needs the bucket name"),
        ("sqs-error", "q", 0, "--seconds must be 1 to 900 (seconds)"),
        ("sqs-error", "q", 901, "--seconds must be 1 to 900 (seconds)"),
    ],
)
def test_a_fault_out_of_bounds_is_refused(kind, target, seconds, message):
    with pytest.raises(faults.FaultError, match=message.replace("(", r"\(").replace(")", r"\)")):
        faults.FaultStore().start(kind, target, seconds)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("faults")
    state = server.start(state_dir=state_dir)
    try:
        yield state.endpoint
    finally:
        server.stop(state_dir)


@pytest.fixture
def clean(endpoint):
    faults.clear_faults(endpoint)
    yield endpoint
    faults.clear_faults(endpoint)


def _client(endpoint: str, service: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),  # see each refusal itself
    )


def _table(ddb, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "device_id", "AttributeType": "S"},
            {"AttributeName": "ts", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _item(i: int) -> dict:
    return {"device_id": {"S": "dev-1"}, "ts": {"N": str(1_700_000_000_000 + i)}}


def _sum(endpoint: str, metric: str, dimensions: dict[str, str]) -> float:
    urllib.request.urlopen(urllib.request.Request(endpoint + cw_metrics.FLUSH_PATH, method="POST")).read()
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    points = _client(endpoint, "cloudwatch").get_metric_statistics(
        Namespace="AWS/DynamoDB",
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=end - dt.timedelta(minutes=20),
        EndTime=end,
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(p["Sum"] for p in points)


def test_a_dynamodb_error_window_answers_500_on_its_table_only_and_counts_system_errors(clean):
    ddb = _client(clean, "dynamodb")
    _table(ddb, "err-readings")
    _table(ddb, "err-other")
    faults.start_fault(clean, "dynamodb-error", "err-readings", 60)
    assert [f["kind"] for f in faults.list_faults(clean)] == ["dynamodb-error"]
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName="err-readings", Item=_item(1))
    assert exc.value.response["Error"]["Code"] == "InternalServerError"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    with pytest.raises(ClientError):
        ddb.batch_write_item(RequestItems={"err-readings": [{"PutRequest": {"Item": _item(2)}}]})
    ddb.put_item(TableName="err-other", Item=_item(1))  # another table is not touched
    assert _sum(clean, "SystemErrors", {"TableName": "err-readings", "Operation": "PutItem"}) == 1
    assert _sum(clean, "SystemErrors", {"TableName": "err-readings", "Operation": "BatchWriteItem"}) == 1
    assert faults.clear_faults(clean) == 1
    ddb.put_item(TableName="err-readings", Item=_item(1))
    assert ddb.scan(TableName="err-readings")["Count"] == 1  # nothing written while the fault held


def test_a_counted_dynamodb_error_fails_that_many_requests_on_its_table_then_writes_go_through(clean):
    ddb = _client(clean, "dynamodb")
    _table(ddb, "cnt-readings")
    started = faults.start_fault(clean, "dynamodb-error", "cnt-readings", 60, requests=2)
    assert started["requests_left"] == 2
    for i in range(2):
        with pytest.raises(ClientError) as exc:
            ddb.batch_write_item(RequestItems={"cnt-readings": [{"PutRequest": {"Item": _item(i)}}]})
        assert exc.value.response["Error"]["Code"] == "InternalServerError"
    assert faults.list_faults(clean) == []  # the second failed request ended it
    ddb.batch_write_item(RequestItems={"cnt-readings": [{"PutRequest": {"Item": _item(3)}}]})
    assert ddb.scan(TableName="cnt-readings")["Count"] == 1
    assert _sum(clean, "SystemErrors", {"TableName": "cnt-readings", "Operation": "BatchWriteItem"}) == 2
    with pytest.raises(OpsError, match="a function-crash lasts --seconds only"):
        faults.start_fault(clean, "function-crash", "fn", 60, requests=1)  # refused before asking the server


def test_a_throttle_window_refuses_its_table_and_hands_back_its_share_of_a_batch(clean):
    ddb = _client(clean, "dynamodb")
    _table(ddb, "thr-readings")
    _table(ddb, "thr-other")
    faults.start_fault(clean, "dynamodb-throttle", "thr-readings", 60)
    with pytest.raises(ClientError) as exc:
        ddb.batch_write_item(RequestItems={"thr-readings": [{"PutRequest": {"Item": _item(i)}} for i in range(3)]})
    assert exc.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    resp = ddb.batch_write_item(
        RequestItems={
            "thr-readings": [{"PutRequest": {"Item": _item(i)}} for i in range(4)],
            "thr-other": [{"PutRequest": {"Item": _item(i)}} for i in range(2)],
        }
    )
    assert [r["PutRequest"]["Item"] for r in resp["UnprocessedItems"]["thr-readings"]] == [_item(i) for i in range(4)]
    assert ddb.scan(TableName="thr-other")["Count"] == 2
    with pytest.raises(ClientError) as exc:
        ddb.query(
            TableName="thr-readings",
            KeyConditionExpression="device_id = :d",
            ExpressionAttributeValues={":d": {"S": "dev-1"}},
        )
    assert exc.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert _sum(clean, "WriteThrottleEvents", {"TableName": "thr-readings"}) == 3 + 4  # one per item
    assert _sum(clean, "ReadThrottleEvents", {"TableName": "thr-readings"}) == 1
    assert _sum(clean, "ThrottledRequests", {"TableName": "thr-readings", "Operation": "BatchWriteItem"}) == 2
    assert _sum(clean, "ThrottledRequests", {"TableName": "thr-readings", "Operation": "Query"}) == 1
    faults.clear_faults(clean)
    assert ddb.scan(TableName="thr-readings")["Count"] == 0  # the handed-back items were never written


def test_sqs_and_s3_error_windows_answer_500_for_their_resource(clean):
    sqs, s3 = _client(clean, "sqs"), _client(clean, "s3")
    jobs = sqs.create_queue(QueueName="fault-jobs")["QueueUrl"]
    calm = sqs.create_queue(QueueName="fault-calm")["QueueUrl"]
    s3.create_bucket(Bucket="fault-bucket")
    s3.create_bucket(Bucket="calm-bucket")
    faults.start_fault(clean, "sqs-error", "fault-jobs", 60)
    faults.start_fault(clean, "s3-error", "fault-bucket", 60)
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=jobs, MessageBody="{}")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert exc.value.response["Error"]["Code"] == "InternalFailure"
    sqs.send_message(QueueUrl=calm, MessageBody="{}")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="fault-bucket", Key="k", Body=b"x")
    assert exc.value.response["Error"]["Code"] == "InternalError"
    s3.put_object(Bucket="calm-bucket", Key="k", Body=b"x")
    assert sorted(f["kind"] for f in faults.list_faults(clean)) == ["s3-error", "sqs-error"]


def test_a_short_fault_ends_by_itself_on_the_server(clean):
    sqs = _client(clean, "sqs")
    url = sqs.create_queue(QueueName="fault-short")["QueueUrl"]
    faults.start_fault(clean, "sqs-error", "fault-short", 1)
    with pytest.raises(ClientError):
        sqs.send_message(QueueUrl=url, MessageBody="{}")
    time.sleep(1.2)
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    assert faults.list_faults(clean) == []


def test_the_client_refuses_a_bad_fault_before_asking_the_server(clean):
    with pytest.raises(OpsError, match="--seconds must be 1 to 900"):
        faults.start_fault(clean, "sqs-error", "q", 3600)
    with pytest.raises(OpsError, match="does not answer"):
        faults.list_faults("http://127.0.0.1:9")


def test_the_fault_command_says_what_is_wrong_in_one_line(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OPSCTL_SANDBOX_DIR": str(tmp_path / "sandbox")}
    env.pop("OPSCTL_ENV", None)

    def opsctl(*args):
        return subprocess.run(
            [sys.executable, "-m", "opsctl.cli.app", "sandbox", "fault", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    for args, fragment in (
        (("dynamodb-eror",), "unknown fault kind 'dynamodb-eror'"),
        ((), "which fault? give a kind"),
        (("sqs-error", "--clear"), "--clear ends every fault"),
        (("sqs-error", "--seconds", "30"), "the sandbox is not up"),
        (("function-crash", "--requests", "3"), "a function-crash lasts --seconds only"),
    ):
        proc = opsctl(*args)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert fragment in lines[0]
    proc = opsctl("sqs-error", "--seconds", str(faults.MAX_SECONDS + 1))  # the option's bound is the store's
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert opsctl("sqs-error", "--seconds", str(faults.MAX_SECONDS)).returncode == 1  # in bounds: no sandbox
    proc = opsctl("sqs-error", "--requests", str(faults.MAX_REQUESTS + 1))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert opsctl("sqs-error", "--requests", str(faults.MAX_REQUESTS)).returncode == 1


# -- function-crash: the local runtime reads the store and fails the invocation as Lambda reports a crashed runtime

CRASH_HANDLER = """
import os


def handler(event, context):
    with open(os.environ["RAN"], "a") as f:  # one line per invocation the handler really ran
        f.write(context.aws_request_id + "\\n")
    return {"ok": event["n"]}
"""


def _deployed_function(endpoint: str, tmp_path, name: str):
    from opsctl.core.packaging import build_zip

    src = tmp_path / "src"
    (src / "crashfn").mkdir(parents=True)
    (src / "crashfn" / "__init__.py").write_text("")
    (src / "crashfn" / "handler.py").write_text(CRASH_HANDLER)
    zip_path = tmp_path / "functions.zip"
    build_zip(src, zip_path)
    role = _client(endpoint, "iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    fn = _client(endpoint, "lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="crashfn.handler.handler",
        Code={"ZipFile": zip_path.read_bytes()},
        Timeout=10,
        Environment={"Variables": {"RAN": str(tmp_path / "ran.txt")}},
    )
    return fn["FunctionArn"], zip_path


def test_an_invocation_that_starts_in_a_function_crash_window_fails_as_lambda_reports_a_crashed_runtime(
    clean, tmp_path
):
    from opsctl.core.aws import AwsTarget
    from opsctl.sandbox.runtime.function import FunctionRunner, MetricSink

    arn, zip_path = _deployed_function(clean, tmp_path, "crashy")
    target = AwsTarget(region=REGION, endpoint_url=clean, sandbox=True)
    runner = FunctionRunner(
        target, state_dir=tmp_path / "state", zip_path=zip_path, metrics=MetricSink(_client(clean, "cloudwatch"))
    )
    runner.crashes.poll_s = 0  # read the store before every invocation (the runtime reads it once a second)
    try:
        fn = runner.function(arn)
        assert runner.invoke(fn, {"n": 1}).result == {"ok": 1}
        faults.start_fault(clean, "function-crash", "crashy", 30)
        assert [f["kind"] for f in faults.list_faults(clean)] == ["function-crash"]  # what `sandbox status` lists
        crashed = runner.invoke(fn, {"n": 2})
        assert crashed.function_error and crashed.result is None
        assert crashed.error_type == "Runtime.ExitError"
        assert (
            crashed.error_message == f"RequestId: {crashed.request_id} Error: Runtime exited with error: exit status 1"
        )
        assert not runner.crashes.crashing("another-function")
        faults.clear_faults(clean)
        assert runner.invoke(fn, {"n": 3}).result == {"ok": 3}
    finally:
        runner.close()
    ran = (tmp_path / "ran.txt").read_text().split()
    assert len(ran) == 2 and crashed.request_id not in ran  # the crashed invocation never ran the handler
    log = (tmp_path / "state" / "logs" / "crashy.log").read_text()
    # The lines Lambda writes for it, after its REPORT (the log-alert subscription filter matches "Runtime exited").
    assert f"RequestId: {crashed.request_id} Error: Runtime exited with error: exit status 1\nRuntime.ExitError" in log
    assert log.index(f"REPORT RequestId: {crashed.request_id}") < log.index(f"RequestId: {crashed.request_id} Error")


def test_the_runtime_sees_a_crash_window_by_its_own_start_and_end(clean):
    now = [time.time()]
    watch = faults.CrashWatch(clean, poll_s=1.0, clock=lambda: now[0])
    assert not watch.crashing("fn")  # read: nothing under way
    faults.start_fault(clean, "function-crash", "fn", 5)
    assert not watch.crashing("fn")  # not read again within poll_s: seen up to a second late
    now[0] += 1.0
    assert watch.crashing("fn") and not watch.crashing("other")
    now[0] += 5.0  # past its end: no crash, even before the next read of the store shows it gone
    watch.poll_s = 60.0
    assert not watch.crashing("fn")
    assert not faults.CrashWatch(None).crashing("fn")  # a target without a sandbox server: never
    assert not faults.CrashWatch("http://127.0.0.1:9").crashing("fn")  # a server that does not answer: none


def test_one_fault_can_end_early_while_the_others_run_on(clean):
    faults.start_fault(clean, "function-crash", "ingest", 60)
    faults.start_fault(clean, "function-crash", "rollup", 60)
    assert faults.end_fault(clean, "function-crash", "ingest") == 1
    assert faults.end_fault(clean, "function-crash", "ingest") == 0  # already over
    assert [(f["kind"], f["target"]) for f in faults.list_faults(clean)] == [("function-crash", "rollup")]


def test_a_crashing_stream_consumer_gives_up_one_record_after_the_passes_the_drill_plans(clean, tmp_path):
    """The drill's crash pass (opsctl.sandbox.drill.crash_passes) against the real local runtime: a batch whose
    every invocation crashes is bisected down to one record, retried, and that record is sent to the mapping's
    on-failure queue on exactly the planned pass, not one pass earlier."""
    from opsctl.core.aws import AwsTarget
    from opsctl.sandbox import drill
    from opsctl.sandbox.runtime import runner as runtime

    arn, zip_path = _deployed_function(clean, tmp_path, "crashing-consumer")
    kinesis, sqs = _client(clean, "kinesis"), _client(clean, "sqs")
    kinesis.create_stream(StreamName="crash-stream", ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName="crash-stream")["StreamDescriptionSummary"]["StreamARN"]
    queue = sqs.create_queue(QueueName="crash-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = _client(clean, "lambda").create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=100,
        MaximumRetryAttempts=3,
        BisectBatchOnFunctionError=True,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    for start in range(0, 100, 50):
        kinesis.put_records(
            StreamName="crash-stream",
            Records=[{"Data": b"{}", "PartitionKey": f"k{i}"} for i in range(start, start + 50)],
        )
    target = AwsTarget(region=REGION, endpoint_url=clean, sandbox=True)
    passes = drill.crash_passes(100, 3, bisect=True)
    faults.start_fault(clean, "function-crash", "crashing-consumer", 120)
    try:

        def run(n: int) -> dict:
            (m,) = [
                x
                for x in runtime.run(target, state_dir=tmp_path / "rt", zip_path=zip_path, max_passes=n).to_dict()[
                    "mappings"
                ]
                if x["uuid"] == mapping["UUID"]
            ]
            return m

        early = run(passes - 1)  # a fresh runtime: the batch starts over from the shard's checkpoint
        assert early["function_errors"] == passes - 1 and early["on_failure_records"] == 0
        planned = run(passes)
        assert planned["function_errors"] == passes and planned["on_failure_records"] == 1
        assert planned["on_failure_batch_records"] == 1
    finally:
        faults.end_fault(clean, "function-crash", "crashing-consumer")
    assert not (tmp_path / "ran.txt").exists()  # the handler never ran: every invocation crashed
    body = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert body["responseContext"]["functionError"] == "Unhandled"
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["approximateInvokeCount"] == passes  # every invocation its records were part of


def test_the_drill_reads_a_queues_depth_in_the_running_minute(clean):
    """`opsctl monitors` judges the periods up to the one holding now; a queue's 1-period alarm reads only the running
    minute. A metric read publishes the running minute so far (opsctl/sandbox/cw_reads.py): the depth sampled,
    once (a second read does not add a second sample)."""
    sqs, cloudwatch = _client(clean, "sqs"), _client(clean, "cloudwatch")
    if time.time() % 60 > 45:  # the whole test within one minute, before the server publishes it itself
        time.sleep(61 - time.time() % 60)
    queue = sqs.create_queue(QueueName="drill-depth-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="{}")
    sqs.send_message(QueueUrl=queue, MessageBody="{}")
    minute = dt.datetime.fromtimestamp(time.time() // 60 * 60, dt.UTC)

    def depth() -> list[float]:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": "drill-depth-dlq"}],
            StartTime=minute,
            EndTime=minute + dt.timedelta(seconds=60),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        return [p["Maximum"] for p in points]

    assert depth() == [2.0]  # the read published the running minute so far
    assert depth() == [2.0]  # a second read of the same minute: the same statistics, not a second sample
