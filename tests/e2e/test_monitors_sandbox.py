"""Monitors and the log-alert pipeline on the sandbox: Terraform's alarms are stored in moto as the catalog
says, and an ERROR line a handler logs travels log group → subscription filter → alert stream → alert
function → alerts topic, arriving as exactly one grouped message on a subscribed queue."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from opsctl.monitoring import thresholds
from opsctl.sandbox import traffic

from .sandbox_harness import opsctl, terraform_plan_exit_code

pytestmark = pytest.mark.e2e

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


def _client(sandbox, service):
    return boto3.client(
        service,
        endpoint_url=sandbox.endpoint,
        region_name=sandbox.outputs["region"],
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def test_every_catalog_monitor_with_local_resources_is_an_alarm_in_the_sandbox(sandbox):
    cw = _client(sandbox, "cloudwatch")
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
    logs = _client(sandbox, "logs")
    group = f"/aws/lambda/{sandbox.outputs['ingest_function_name']}"
    (f,) = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert f["filterPattern"] == '{ $.level = "ERROR" }'
    assert f["destinationArn"].endswith(f":stream/{sandbox.outputs['alert_stream_name']}")


@pytest.fixture
def alert_inbox(sandbox):
    """An SQS queue subscribed to the alerts topic, as on-call's e-mail or pager would be; yields a reader."""
    sns, sqs = _client(sandbox, "sns"), _client(sandbox, "sqs")
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
    traffic.send(_client(sandbox, "kinesis"), sandbox.outputs["stream_name"], items)
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
    queue = _client(sandbox, "sqs").get_queue_attributes(
        QueueUrl=sandbox.outputs["alert_failure_queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert queue["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_terraform_plan_stays_clean_with_alarms_and_log_alerts(sandbox):
    assert terraform_plan_exit_code(sandbox) == 0
