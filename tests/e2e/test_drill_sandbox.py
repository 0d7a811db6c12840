"""`opsctl sandbox drill` on a sandbox of its own (its spike and poison would otherwise land in the tables and
quarantine the other e2e modules count): a real incident rehearsal, so it takes ~8 minutes (the
iterator-age alarm needs 3 breaching minutes of 5 and then needs them to leave its window; nothing is faked
and no threshold is lowered to make it faster). The test counts the drill's records itself, from DynamoDB and S3."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from opsctl.monitoring import thresholds
from opsctl.sandbox import drill

from .sandbox_harness import opsctl, start, stop_dir

# The drill's group (with tests/opsctl/test_monitors.py) runs first, on a worker of its own: its minutes of
# waiting on CloudWatch windows overlap the CPU-bound rest of the suite (tests/conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("drill")]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """This module's own sandbox (overrides the session one), torn down when the module ends."""
    yield from _own_sandbox(tmp_path_factory, "drill-sandbox")


def _own_sandbox(tmp_path_factory, name: str):
    state_dir = tmp_path_factory.mktemp(name)
    try:
        yield start(state_dir)
    finally:
        stop_dir(state_dir)


def _problems(stdout: str) -> str:
    """What the drill said went wrong (its JSON's `problems`), first, then its incident's steps with their times
    (when each slow pass started and ended against the minutes): the tails below may not reach either."""
    try:
        doc = json.loads(stdout)
        incident = [
            f"[{t['at_s']:6.1f} s] {t['command']} → {t['outcome']}" for t in doc["timeline"] if t["step"] == "incident"
        ]
        return "drill problems: " + "; ".join(doc["problems"]) + "\n" + "\n".join(incident) + "\n"
    except (ValueError, KeyError, TypeError):
        return ""


# `--full` takes ~20 minutes (drill.FULL_DRILL_MINUTES: the backlog ages past the critical threshold first), more
# than `make test` can give one test; `make test-drill-full` runs it (TEST_DRILL_FULL=1), on a sandbox of its own.
FULL_ONLY = {"ingest_iterator_age_critical", "stream_iterator_age"}
RUN_FULL = os.environ.get("TEST_DRILL_FULL") == "1"


@pytest.fixture(scope="module")
def full_sandbox(tmp_path_factory):
    """The `--full` drill's own sandbox: the default drill's alarms and devices must not be in its windows."""
    yield from _own_sandbox(tmp_path_factory, "drill-full-sandbox")


def test_drill_fires_a_catalog_monitor_recovers_and_accounts_for_every_record(sandbox):
    _check_drill(sandbox, full=False)


@pytest.mark.skipif(
    not RUN_FULL, reason=f"the --full drill takes ~{drill.FULL_DRILL_MINUTES} min: `make test-drill-full` runs it"
)
def test_the_full_drill_also_fires_and_clears_the_critical_iterator_age_monitors(full_sandbox):
    _check_drill(full_sandbox, full=True)


def _check_drill(sandbox, *, full: bool) -> None:
    proc = opsctl(
        sandbox,
        "sandbox",
        "drill",
        *(["--full"] if full else []),
        "--baseline",
        "30",
        "--spike",
        "100",
        "--poison",
        "11",
        "--devices",
        "3",
        "--output",
        "json",
        timeout=2700 if full else 1200,
        check=False,
    )
    assert proc.returncode == 0, _problems(proc.stdout) + proc.stderr[-3000:] + proc.stdout[-2000:]
    doc = json.loads(proc.stdout)
    print(proc.stderr[-20_000:])  # the drill's timeline as it ran (pytest shows it with -rP or on a failure)
    assert doc["ok"] and doc["problems"] == []
    # At least one catalog monitor went to ALARM during the drill and is OK at the end.
    assert doc["fired"] and set(doc["fired"]) <= set(thresholds.monitors())
    for monitor in doc["fired"]:
        assert doc["monitors"]["during"][monitor] == "ALARM" and doc["monitors"]["after"][monitor] == "OK"
    assert "ingest_iterator_age_warning" in doc["fired"]
    assert "ingest_poison_burst" in doc["fired"]  # 11 poison records quarantined within a minute: over 10
    # Every monitor the drill claims to exercise fired and cleared, with the runbook command that brought it back;
    # every other catalog monitor is accounted for as not exercised, with a reason.
    claimed = {m["monitor"]: m for m in doc["exercised"]}
    assert set(claimed) == {
        "ingest_iterator_age_warning",
        "ingest_poison_burst",
        "stream_write_throughput_exceeded",
        "table_write_throttles",
        "table_system_errors",
        "ingest_error_rate",
        "ingest_failure_queue_not_empty",
        "rollup_error_rate",
        "rollup_dlq_not_empty",
    } | (FULL_ONLY if full else set())
    for monitor, m in claimed.items():
        assert m["fired"] and m["cleared"], m
        assert monitor in doc["fired"] and doc["monitors"]["after"][monitor] == "OK"
        assert m["runbook"] == thresholds.monitors()[monitor]["runbook"] and m["brought_back_by"].startswith("opsctl ")
        assert any(s["command"].startswith(m["brought_back_by"]) for s in doc["timeline"])  # the drill really ran it
    assert set(claimed) | set(doc["not_exercised"]) == set(thresholds.monitors())
    assert not set(claimed) & set(doc["not_exercised"]) and all(doc["not_exercised"].values())
    # The faults really bit, and the hot device really was throttled (the drill's own sender retried it).
    outcomes = " ".join(s["outcome"] for s in doc["timeline"])
    assert "HTTP 500" in outcomes and "ProvisionedThroughputExceededException" in outcomes
    assert "Runtime.ExitError" in outcomes  # the function-crash faults
    # The crashed ingest batches went to the on-failure queue and the crashed rollup jobs to the DLQ (that is what
    # fired their alarms), and the runbooks' replays emptied both.
    ran = [s["command"] for s in doc["timeline"]]
    assert "opsctl replay-dlq --source ingest --yes" in ran and "opsctl replay-dlq --source rollup --yes" in ran
    sqs = sandbox.client("sqs")
    for queue in ("ingest_failure_queue_url", "rollup_dlq_url"):
        attrs = sqs.get_queue_attributes(QueueUrl=sandbox.outputs[queue], AttributeNames=["All"])["Attributes"]
        assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    assert any(
        s["outcome"].endswith("refused by its shard and sent again") and not s["outcome"].startswith("0 ")
        for s in doc["timeline"]
    )
    # The readings table throttled by its capacity, not by a fault: no dynamodb-throttle fault was started; the
    # table (on demand in this sandbox) was PROVISIONED below what a slow pass writes (a batch from every shard of
    # this sandbox's stream) before the slow passes, raised by the runbook's command after the detection, and put
    # back on demand.
    assert not any("dynamodb-throttle" in c for c in ran)
    period = int(thresholds.monitors()["table_write_throttles"]["period_seconds"])
    minutes = int(thresholds.monitors()["table_write_throttles"]["datapoints_to_alarm"])
    mapping = sandbox.client("lambda").get_event_source_mapping(UUID=sandbox.outputs["ingest_mapping_uuid"])
    shards = sandbox.client("kinesis").describe_stream_summary(StreamName=sandbox.outputs["stream_name"])[
        "StreamDescriptionSummary"
    ]["OpenShardCount"]
    cap = doc["capacity"]
    plan = cap["plan"]
    assert cap["found"]["billing_mode"] == "PAY_PER_REQUEST"
    assert plan["per_minute_wcu"] == shards * mapping["BatchSize"] * drill.WCU_PER_READING
    derived = drill.throttle_plan(plan["per_minute_wcu"], period, 1)
    assert derived is not None and plan["capacity_wcu"] == derived.capacity_wcu
    assert plan["capacity_wcu"] * period < plan["per_minute_wcu"]  # a minute's refill never carries a slow pass
    incident, raised = cap["incident"], cap["raised"]
    assert (incident["billing_mode"], incident["write_capacity"]) == ("PROVISIONED", plan["capacity_wcu"])
    assert (raised["billing_mode"], raised["write_capacity"]) == ("PROVISIONED", plan["raised_wcu"])
    assert raised["write_capacity"] > incident["write_capacity"]
    switch = f"opsctl capacity --apply --yes --write-capacity {plan['capacity_wcu']} "
    mitigate = f"opsctl capacity --apply --yes --write-capacity {plan['raised_wcu']} "
    timeline = doc["timeline"]

    def first(prefix: str, step: str | None = None) -> int:
        return min(i for i, s in enumerate(timeline) if s["command"].startswith(prefix) and step in (None, s["step"]))

    assert first(switch) < first("opsctl sandbox run --max-passes 1")  # sized before the slow passes
    m = first(mitigate, "runbooks/table-throttles.md: mitigate")
    assert timeline[m]["exit_code"] == 0
    assert first("opsctl monitors", "detect") < m < first("opsctl sandbox run", "runbooks/iterator-age.md: mitigate")
    table_now = sandbox.client("dynamodb").describe_table(TableName=sandbox.outputs["table_name"])["Table"]
    assert table_now["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST" == cap["left"]["billing_mode"]
    recorded = json.loads((sandbox.state_dir / "opsctl.tfvars.json").read_text())
    assert recorded["table_billing_mode"] == "PAY_PER_REQUEST"  # Terraform's variables agree with the table
    # CloudWatch has the throttling, from the sandbox's own accounting: WriteThrottleEvents in at least the alarm's
    # datapoints_to_alarm minutes between the switch and the raise.
    points = sandbox.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/DynamoDB",
        MetricName="WriteThrottleEvents",
        Dimensions=[{"Name": "TableName", "Value": sandbox.outputs["table_name"]}],
        StartTime=dt.datetime.fromtimestamp(incident["at"] // period * period, dt.UTC),
        EndTime=dt.datetime.fromtimestamp(raised["at"], dt.UTC),
        Period=period,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(1 for p in points if p["Sum"] > 0) >= minutes, points
    # The timeline names the runbook steps it ran, in order of time.
    steps = [s["step"] for s in doc["timeline"]]
    assert "detect" in steps and any(s.startswith("runbooks/iterator-age.md: mitigate") for s in steps)
    assert [s["at_s"] for s in doc["timeline"]] == sorted(s["at_s"] for s in doc["timeline"])
    # Count it ourselves: every reading of the drill's devices in the table, every poison record in the quarantine.
    ddb, s3 = sandbox.client("dynamodb"), sandbox.client("s3")
    in_table = 0
    for page in ddb.get_paginator("scan").paginate(
        TableName=sandbox.outputs["table_name"],
        FilterExpression="begins_with(device_id, :p)",
        ExpressionAttributeValues={":p": {"S": doc["device_prefix"]}},
        Select="COUNT",
    ):
        in_table += page["Count"]
    wanted = {(p["shard_id"], p["sequence_number"]) for p in doc["poison_records"]}
    found = set()  # one object per batch's poison, one JSON line per record; a record in two objects counts once
    bucket = sandbox.outputs["quarantine_bucket"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode().splitlines():
                body = json.loads(line)
                found.add((body.get("shard_id"), str(body.get("sequence_number"))))
    quarantined = len(found & wanted)
    acc = doc["accounting"]
    assert len(wanted) == acc["poison_sent"] == 11
    assert in_table == acc["valid_sent"] and quarantined == acc["poison_sent"]
    assert acc["sent"] == in_table + quarantined and acc["unaccounted"] == 0
