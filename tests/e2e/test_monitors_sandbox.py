"""Monitors and the log-alert pipeline on the sandbox: Terraform's alarms are stored in moto as the catalog
says, and an ERROR line a handler logs travels log group → subscription filter → alert stream → alert
function → alerts topic, arriving as exactly one grouped message on a subscribed queue."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from alert.handler import FILTER_PATTERN
from opsctl.monitoring import thresholds
from opsctl.sandbox import traffic

from .sandbox_harness import ROOT, opsctl, terraform_plan_exit_code

# A group of its own: pytest-xdist runs the module on one worker, so its module fixtures run once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-monitors")]

# Monitors whose resources envs/local has: all of them (the read API, rollups and the report included).
LOCAL_RESOURCES = {
    "stream_name",
    "ingest_function_name",
    "ingest_failure_queue_name",
    "table_name",
    "alert_function_name",
    "alert_failure_queue_name",
    "rollup_function_name",
    "rollup_queue_name",
    "rollup_dlq_name",
    "api_id",
    "api_stage_name",
    "report_function_name",
    "report_dlq_name",  # the sandbox runs the report schedule too (opsctl sandbox scheduled-report)
}


def test_every_catalog_monitor_with_local_resources_is_an_alarm_in_the_sandbox(sandbox):
    cw = sandbox.client("cloudwatch")
    alarms = {
        a["AlarmName"]: a
        for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix="telemetry-local-")
        for a in page["MetricAlarms"]
    }
    expected = {
        mid
        for mid, m in thresholds.monitors().items()
        if {v[1:] for v in m["dimensions"].values() if v.startswith("$")} <= LOCAL_RESOURCES
    }
    assert {name.removeprefix("telemetry-local-") for name in alarms} == expected
    for mid in expected:
        a, m = alarms[f"telemetry-local-{mid}"], thresholds.monitors()[mid]
        assert a["Threshold"] == thresholds.threshold(m)[0] and a["ComparisonOperator"] == m["comparison"]
        assert a["AlarmActions"] == [sandbox.outputs["alerts_topic_arn"]] and a["OKActions"] == [
            sandbox.outputs["alerts_topic_arn"]
        ]
        assert a["AlarmDescription"].endswith(
            f"Runbook: https://runbooks.example.invalid/telemetry-pipeline/{m['runbook']}"
        )
    iterator = alarms["telemetry-local-ingest_iterator_age_critical"]
    assert iterator["Dimensions"] == [{"Name": "FunctionName", "Value": sandbox.outputs["ingest_function_name"]}]
    ratio = alarms["telemetry-local-ingest_error_rate"]
    assert {q["Id"] for q in ratio["Metrics"]} == {"m1", "m2", "e1"}


def test_subscription_filter_forwards_only_our_error_lines(sandbox):
    logs = sandbox.client("logs")
    group = f"/aws/lambda/{sandbox.outputs['ingest_function_name']}"
    (f,) = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert f["filterPattern"] == FILTER_PATTERN
    assert f["destinationArn"].endswith(f":stream/{sandbox.outputs['alert_stream_name']}")


@pytest.fixture
def alert_inbox(sandbox):
    """An SQS queue subscribed to the alerts topic, as on-call's e-mail or pager would be; yields a reader."""
    sns, sqs = sandbox.client("sns"), sandbox.client("sqs")
    url = sqs.create_queue(QueueName=f"alerts-inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sub = sns.subscribe(TopicArn=sandbox.outputs["alerts_topic_arn"], Protocol="sqs", Endpoint=arn)["SubscriptionArn"]

    def read() -> list[dict]:
        out = []
        while True:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    try:
        yield read
    finally:
        sns.unsubscribe(SubscriptionArn=sub)
        sqs.delete_queue(QueueUrl=url)


def test_a_handlers_error_lines_arrive_as_one_grouped_message(sandbox, alert_inbox):
    opsctl(
        sandbox, "sandbox", "run", "--until-idle", "--output", "json"
    )  # whatever earlier tests left is alerted before we listen
    alert_inbox()
    # Three poison records on one shard (one partition key): one ingest batch logs one ERROR line, with counts.
    pool = traffic.poison(22, seed=5)  # two of each kind
    chosen = [next(p for p in pool if p.kind == "not_json")] + [p for p in pool if p.kind == "bad_ts"]
    items = [traffic.Outgoing("dev-alerts", p.data, p.kind) for p in chosen]
    traffic.send(sandbox.client("kinesis"), sandbox.outputs["stream_name"], items)
    run = json.loads(opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json").stdout)
    by_fn = {m["function_name"]: m for m in run["mappings"]}
    assert by_fn[sandbox.outputs["alert_function_name"]]["invocations"] >= 1

    (msg,) = alert_inbox()
    ingest = sandbox.outputs["ingest_function_name"]
    assert msg["Subject"] == f"[local] 1 ERROR line in {ingest}"
    assert f'{ingest}: "poison records quarantined" x1' in msg["Message"]
    assert '"bad_ts" x2' in msg["Message"] and '"not_json" x1' in msg["Message"]
    # The pipeline settles: nothing more to alert about, and the alert consumer failed nothing.
    again = json.loads(opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json").stdout)
    assert {m["function_name"]: m["invocations"] for m in again["mappings"]}.get(ingest, 0) == 0
    assert alert_inbox() == []
    queue = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=sandbox.outputs["alert_failure_queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert queue["Attributes"]["ApproximateNumberOfMessages"] == "0"


LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _crashes(event, context):
    return event["Records"][0]["messageAttributes"]["missing"]  # a KeyError, really raised, not caught


def _hangs(event, context):
    while True:  # past any timeout; the runtime stops it at its deadline
        time.sleep(0.05)


@pytest.fixture
def failing_functions(sandbox):
    """Two test-only functions (the deployed zip, so the runtime accepts them; handlers that really raise and
    really hang in its place), each with its log group subscribed to the alert stream as Terraform does, and
    an SQS queue mapped to each: {kind: (function name, queue url)}. Removed afterwards."""
    o, suffix = sandbox.outputs, uuid.uuid4().hex[:6]
    lam, logs, iam, sqs = (sandbox.client(s) for s in ("lambda", "logs", "iam", "sqs"))
    role = iam.create_role(RoleName=f"e2e-failing-{suffix}", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
    alert_stream = sandbox.client("kinesis").describe_stream_summary(StreamName=o["alert_stream_name"])
    logs_role = iam.get_role(RoleName=o["alert_stream_name"].removesuffix("-log-alerts") + "-logs-to-alerts")
    made = []
    for kind, timeout in (("crash", 3), ("hang", 1)):
        name = f"telemetry-local-e2e-{kind}-{suffix}"
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="ingest.handler.handler",
            Code={"ZipFile": (ROOT / "build" / "functions.zip").read_bytes()},
            Timeout=timeout,
        )
        logs.create_log_group(logGroupName=f"/aws/lambda/{name}")
        logs.put_subscription_filter(
            logGroupName=f"/aws/lambda/{name}",
            filterName="errors-to-alerts",
            filterPattern=FILTER_PATTERN,
            destinationArn=alert_stream["StreamDescriptionSummary"]["StreamARN"],
            roleArn=logs_role["Role"]["Arn"],
        )
        url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "600"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=1)["UUID"]
        made.append((name, url, mapping))
    try:
        yield {"crash": made[0][:2], "hang": made[1][:2]}
    finally:
        for name, url, mapping in made:
            lam.delete_event_source_mapping(UUID=mapping)
            lam.delete_function(FunctionName=name)
            logs.delete_log_group(logGroupName=f"/aws/lambda/{name}")
            sqs.delete_queue(QueueUrl=url)
        iam.delete_role(RoleName=role["Role"]["RoleName"])


def test_a_handler_that_raises_and_one_that_times_out_are_alerted(sandbox, alert_inbox, failing_functions):
    from opsctl.core.aws import AwsTarget
    from opsctl.sandbox.runtime import runner

    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")
    alert_inbox()
    (crash, crash_queue), (hang, hang_queue) = failing_functions["crash"], failing_functions["hang"]
    for url in (crash_queue, hang_queue):  # one job each, sent now that only the overrides will run them
        sandbox.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"job": "e2e"}))
    target = AwsTarget(region=sandbox.outputs["region"], endpoint_url=sandbox.endpoint, sandbox=True)
    summary = runner.run(
        target,
        state_dir=sandbox.state_dir,
        zip_path=ROOT / "build" / "functions.zip",
        handler_overrides={crash: _crashes, hang: _hangs},
        max_seconds=300,
    ).to_dict()
    by_fn = {m["function_name"]: m for m in summary["mappings"]}
    assert by_fn[crash]["function_errors"] == 1 and by_fn[hang]["function_errors"] == 1

    # The lines as Lambda's runtime writes them reached the log groups ...
    logs = (sandbox.state_dir / "logs" / f"{crash}.log").read_text()
    assert "[ERROR] KeyError: 'missing'\nTraceback (most recent call last):" in logs
    assert "Task timed out after 1.00 seconds" in (sandbox.state_dir / "logs" / f"{hang}.log").read_text()
    # ... and through the subscription filter, the alert stream and the alert function, to on-call.
    bodies = "\n".join(m["Message"] for m in alert_inbox())
    # the alert quotes error types and messages: they are log text and may hold device data
    assert f'{crash}: "KeyError" x1' in bodies
    assert f'{hang}: "Sandbox.Timedout" x1' in bodies and '"Task timed out after 1.00 seconds" x1' in bodies


def test_terraform_plan_stays_clean_with_alarms_and_log_alerts(sandbox):
    assert terraform_plan_exit_code(sandbox) == 0
