"""Capacity on the sandbox with the real Terraform: `opsctl capacity --apply` on a table made PROVISIONED
through the local environment's own variables leaves `terraform plan` clean; the scheduled capacity report,
invoked through the local runtime with the schedule's own input, stores its report in the encrypted bucket
and publishes its summary to the alerts topic; `opsctl report --format html` writes one self-contained file."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest

from .sandbox_harness import opsctl, terraform_plan_exit_code

# A group of its own: pytest-xdist runs the module on one worker, so its module fixtures run once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-capacity")]


def _seed_table(sandbox, table, metric, per_minute, minutes=60):
    now = dt.datetime.now(dt.UTC)
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "TableName", "Value": table}],
            "Value": float(per_minute),
            "Unit": "Count",
            "Timestamp": now - dt.timedelta(minutes=minutes - i, seconds=-30),
        }
        for i in range(minutes)
    ]
    sandbox.client("cloudwatch").put_metric_data(Namespace="AWS/DynamoDB", MetricData=data)


@pytest.fixture
def provisioned_table(sandbox):
    """The sandbox's readings table, PROVISIONED 5/5 the way an operator makes it so: through the local
    environment's own variables (the isolated sandbox's opsctl.tfvars.json), which the session sandbox is
    brought up with (tests/e2e/sandbox_harness.py SESSION_VARIABLES), so no second apply is needed to switch it.

    It stays PROVISIONED for the rest of the session, recorded in those variables, so every later `terraform plan`
    still agrees. Its fixed capacity is held by scalable targets with min = max (terraform/modules/telemetry_table),
    which `--apply` moves with the table; switching modes is tests/e2e/test_table_switch_sandbox.py's subject."""
    recorded = json.loads((sandbox.state_dir / "opsctl.tfvars.json").read_text())
    assert recorded["table_billing_mode"] == "PROVISIONED"
    return sandbox.outputs["table_name"]


def test_capacity_apply_changes_the_table_records_it_and_terraform_agrees(sandbox, provisioned_table):
    table = provisioned_table
    pt = sandbox.client("dynamodb").describe_table(TableName=table)["Table"]["ProvisionedThroughput"]
    assert (pt["ReadCapacityUnits"], pt["WriteCapacityUnits"]) == (5, 5)
    seeded = {"write": 10.0, "read": 2.0}  # units per second, on top of the real traffic the table served
    _seed_table(sandbox, table, "ConsumedWriteCapacityUnits", 600)  # 10 WCU/s alone: ceil(10 / 0.7) = 15
    _seed_table(sandbox, table, "ConsumedReadCapacityUnits", 120)  # 2 RCU/s alone: ceil(2 / 0.7) = 3
    planned = json.loads(opsctl(sandbox, "capacity", "--window", "1h", "--output", "json").stdout)
    (t,) = [x for x in planned["report"]["tables"] if x["resource"] == table]
    # The sandbox publishes the table's real consumed capacity and throttles it (5/5 in this session), so the
    # other modules' traffic adds to the seeded minutes: the plan is the busiest minute at 70 % (at least one
    # step above the provisioned 5 once the table throttled), with the seeded load as its floor.
    expected = {}
    for d in ("read", "write"):
        u = t["dimensions"][d]
        assert u["peak_per_s"] >= seeded[d] and u["provisioned"] == 5
        peak = [math.ceil((u["peak_per_s"] + e) / 0.7) for e in (-0.0005, 0.0005)]  # the report rounds to 3 places
        floor = math.ceil(5 / 0.7) if u["throttled"] > 0 else 1
        assert u["needed"] in {max(floor, n) for n in peak}, u
        if u["needed"] != 5:
            expected[f"{d}_capacity"] = u["needed"]
    assert expected["write_capacity"] >= 15 and t["changes"] == expected
    assert t["decreases_planned"] == sum(1 for v in expected.values() if v < 5)
    want_read, want_write = expected.get("read_capacity", 5), expected["write_capacity"]
    refused = opsctl(sandbox, "capacity", "--window", "1h", "--apply", check=False)
    assert refused.returncode == 1 and "add --yes" in refused.stderr and "Traceback" not in refused.stderr
    done = json.loads(opsctl(sandbox, "capacity", "--window", "1h", "--apply", "--yes", "--output", "json").stdout)
    assert [a["resource"] for a in done["applied"]] == [table]
    pt = sandbox.client("dynamodb").describe_table(TableName=table)["Table"]["ProvisionedThroughput"]
    assert (pt["ReadCapacityUnits"], pt["WriteCapacityUnits"]) == (want_read, want_write)
    recorded = json.loads((sandbox.state_dir / "opsctl.tfvars.json").read_text())
    assert (recorded["table_read_capacity"], recorded["table_write_capacity"]) == (want_read, want_write)
    assert terraform_plan_exit_code(sandbox) == 0


def test_scheduled_report_lands_in_s3_and_its_summary_on_the_alerts_topic(sandbox, tmp_path):
    sqs, sns = sandbox.client("sqs"), sandbox.client("sns")
    queue = sqs.create_queue(QueueName="capacity-report-listener")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=sandbox.outputs["alerts_topic_arn"],
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    assert sandbox.outputs["capacity_report_schedule_name"]  # moto stores the schedule (it never fires it)
    proc = opsctl(sandbox, "sandbox", "scheduled-report", "--out-dir", str(tmp_path), "--output", "json")
    d = json.loads(proc.stdout)
    assert d["event"]["source"] == "aws.scheduler" and d["event"]["schedule_arn"].endswith(
        "/" + sandbox.outputs["capacity_report_schedule_name"]
    )
    bucket, keys = d["result"]["bucket"], d["result"]["keys"]
    assert bucket == sandbox.outputs["reports_bucket"]
    s3 = sandbox.client("s3")
    stored = json.loads(s3.get_object(Bucket=bucket, Key=keys["json"])["Body"].read())
    assert stored["kind"] == "capacity-report" and stored["environment"] == "local"
    # The readings and the rollups table, as Terraform's TABLE_NAMES lists them.
    assert [t["resource"] for t in stored["tables"]] == [
        sandbox.outputs["table_name"],
        sandbox.outputs["rollup_table_name"],
    ]
    assert stored["stream"]["resource"] == sandbox.outputs["stream_name"]
    head = s3.head_object(Bucket=bucket, Key=keys["html"])
    assert head["ContentType"].startswith("text/html") and head.get("ServerSideEncryption") == "aws:kms"
    assert (tmp_path / keys["html"].rsplit("/", 1)[-1]).read_bytes() == s3.get_object(Bucket=bucket, Key=keys["html"])[
        "Body"
    ].read()
    messages = []
    for _ in range(10):
        messages += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            break
    (m,) = messages
    assert f"s3://{bucket}/{keys['html']}" in m["Body"] and "Capacity report for local" in m["Body"]
    # What the "no report in 26 h" alarm watches: the function's EMF metric, published by the local runtime.
    now = dt.datetime.now(dt.UTC)
    points = sandbox.client("cloudwatch").get_metric_statistics(
        Namespace="TelemetryPipeline",
        MetricName="ReportsGenerated",
        Statistics=["Sum"],
        Period=60,
        Dimensions=[{"Name": "FunctionName", "Value": sandbox.outputs["capacity_report_function_name"]}],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
    )["Datapoints"]
    assert sum(p["Sum"] for p in points) >= 1


def test_report_html_is_one_file_with_a_chart_per_resource(sandbox, tmp_path):
    from html.parser import HTMLParser

    out = tmp_path / "capacity.html"
    proc = opsctl(sandbox, "report", "--window", "1h", "--format", "html", "--file", str(out))
    assert f"wrote {out}" in proc.stderr.replace("\n", "")
    figures = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "figure":
                figures.append(dict(attrs)["data-resource"])

    page = out.read_text()
    P().feed(page)
    o = sandbox.outputs
    queues = [
        o[k].rsplit("/", 1)[-1]
        for k in (
            "ingest_failure_queue_url",
            "alert_failure_queue_url",
            "rollup_queue_url",
            "rollup_dlq_url",
            "iot_error_queue_url",
            "capacity_report_dlq_url",
        )
    ]
    registry = o["device_registry_table_name"]
    # One chart per resource: every table (the device registry and its tenant index too), the stream, its
    # consumer function, and every queue (DLQs and the IoT rule's error queue included).
    assert sorted(figures) == sorted(
        [
            o["table_name"],
            o["rollup_table_name"],
            registry,
            f"{registry}/{o['device_registry_tenant_index_name']}",
            o["stream_name"],
            o["ingest_function_name"],
            *queues,
        ]
    )
    assert "http" not in page and "<script" not in page


def test_capacity_refuses_bad_flags_in_one_line(sandbox):
    for args, text in [
        (("--window", "20d"), "longer than 15 days"),
        (("--table", "nope"), "table 'nope' does not exist"),
        (("--prepare-event",), "needs --at TIME and --expect RATE"),
        (("--target-pct", "95"), "from 20 to 90"),
    ]:
        proc = opsctl(sandbox, "capacity", *args, check=False)
        assert proc.returncode == 1 and text in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_prepare_event_plans_shards_capacity_and_concurrency(sandbox):
    d = json.loads(
        opsctl(
            sandbox,
            "capacity",
            "--window",
            "1h",
            "--prepare-event",
            "--at",
            "in 3h",
            "--expect",
            "5000",
            "--output",
            "json",
        ).stdout
    )
    p = d["prepare_event"]
    # 5,000 rec/s at 70 % of 1,000 rec/s per shard → 8 shards; the ingest mapping's parallelization factor is 1
    assert p["terraform"]["ingest_shard_count"] == 8
    assert any("opsctl --env local reshard --to 8" in (s["command"] or "") for s in p["steps"])
    assert any("needs 8 concurrent executions" in s["what"] for s in p["steps"])
    # The bill of a million readings at the event's rate: ours beside one put per record, each item with its inputs.
    cost = p["cost"]
    ours = {i["item"]: i for i in cost["ours"]["items"]}
    assert cost["ours"]["readings"] == 1_000_000 and cost["ours"]["rate_per_s"] == 5000
    assert ours["ingest requests"]["quantity"] == 10_000  # envs/local: batches of 100
    assert ours["shard-hours"]["inputs"].startswith("8 shards × 200 s")
    assert cost["design_over_ours"] > 1 and cost["design"]["total"] > cost["ours"]["total"] > 0
