"""`opsctl sandbox drill` on a sandbox of its own (its spike and poison would otherwise land in the tables and
quarantine the other e2e modules count): a real incident rehearsal, so it takes ~8 minutes (the
iterator-age alarm needs 3 breaching minutes of 5 and then needs them to leave its window; nothing is faked
and no threshold is lowered to make it faster). The test counts the drill's records itself, from DynamoDB and S3."""

from __future__ import annotations

import json

import pytest

from opsctl.monitoring import thresholds

from .sandbox_harness import opsctl, start, stop_dir

# The drill's group (with tests/opsctl/test_monitors.py) runs first, on a worker of its own: its minutes of
# waiting on CloudWatch windows overlap the CPU-bound rest of the suite (tests/conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("drill")]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """This module's own sandbox (overrides the session one), torn down when the module ends."""
    state_dir = tmp_path_factory.mktemp("drill-sandbox")
    try:
        yield start(state_dir)
    finally:
        stop_dir(state_dir)


def test_drill_fires_a_catalog_monitor_recovers_and_accounts_for_every_record(sandbox):
    proc = opsctl(
        sandbox,
        "sandbox",
        "drill",
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
        timeout=1200,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    doc = json.loads(proc.stdout)
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
    }
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
