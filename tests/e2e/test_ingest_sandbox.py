"""End to end on the local sandbox with the real Terraform: traffic with poison records goes in, the
local runtime drives the deployed ingest function, and every record is accounted for exactly once."""

from __future__ import annotations

import base64
import json
from collections import Counter

import pytest

from opsctl.sandbox import traffic

from .sandbox_harness import opsctl, terraform_plan_exit_code

# A group of its own: pytest-xdist runs the module on one worker, so its module fixtures run once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-ingest")]

DEVICES = 4
RECORDS = 600
POISON = 22  # two of each poison kind
PREFIX = "ingest-e2e-"  # this module's devices: other modules' traffic in the same sandbox leaves them alone


def _table_keys(sandbox) -> Counter:
    """(device_id, ts) of this module's readings in the table, with how often each is there."""
    ddb = sandbox.client("dynamodb")
    keys = Counter()
    for page in ddb.get_paginator("scan").paginate(
        TableName=sandbox.outputs["table_name"],
        FilterExpression="begins_with(device_id, :p)",
        ExpressionAttributeValues={":p": {"S": PREFIX}},
    ):
        keys.update((i["device_id"]["S"], int(i["ts"]["N"])) for i in page["Items"])
    return keys


def _table_items(sandbox) -> int:
    """Every item in the readings table, whoever wrote it (what `sandbox inspect` counts)."""
    pages = (
        sandbox.client("dynamodb")
        .get_paginator("scan")
        .paginate(TableName=sandbox.outputs["table_name"], Select="COUNT")
    )
    return sum(page["Count"] for page in pages)


def _quarantine(sandbox, mine: set[bytes] | None = None) -> list[dict]:
    """The quarantined records; with `mine`, only those whose raw record data is one of these (this module's)."""
    s3 = sandbox.client("s3")
    bucket, prefix = sandbox.outputs["quarantine_bucket"], sandbox.outputs["quarantine_prefix"]
    out = {}  # one object per batch's poison, one JSON line per record; a record in two objects counts once
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode().splitlines():
                record = json.loads(line)
                if mine is None or base64.b64decode(record["data_base64"] or "") in mine:
                    out[(record["shard_id"], record["sequence_number"])] = record
    return list(out.values())


def _own(item: traffic.Outgoing) -> traffic.Outgoing:
    """The item with this module's device prefix, in its partition key and in its data (poison included)."""
    reading = item.reading and {**item.reading, "device_id": item.reading["device_id"].replace("dev-", PREFIX, 1)}
    if reading:
        data = json.dumps(reading, separators=(",", ":")).encode()
    else:
        data = item.data.replace(b"dev-", PREFIX.encode())
    return traffic.Outgoing(item.partition_key.replace("dev-", PREFIX, 1), data, item.kind, reading)


@pytest.fixture(scope="module")
def sent(sandbox):
    """Sends the traffic once for this module and returns what was sent. The sandbox is shared with the other
    modules a worker runs, in any order: whatever they left on the stream is processed first, so this module's
    run delivers its own records only, and every assertion reads this module's devices and poison records."""
    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")
    mix = traffic.mix(traffic.readings(DEVICES, RECORDS, seed=11), traffic.poison(POISON, seed=11), seed=11)
    items = [_own(i) for i in mix]
    result = traffic.send(sandbox.client("kinesis"), sandbox.outputs["stream_name"], items)
    assert result.sent == RECORDS + POISON
    run = opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")
    poison = {i.data for i in items if i.kind != "valid"}
    assert len(poison) == POISON  # each poison record recognisable by its bytes
    return {"items": items, "result": result, "run": json.loads(run.stdout), "poison": poison}


def test_every_valid_reading_is_in_the_table_exactly_once(sandbox, sent):
    keys = _table_keys(sandbox)
    expected = {(r["device_id"], r["ts"]) for r in sent["result"].readings}
    assert set(keys) == expected
    assert all(n == 1 for n in keys.values())


def test_readings_keep_their_values_and_ttl_in_epoch_seconds(sandbox, sent):
    ddb = sandbox.client("dynamodb")
    reading = sent["result"].readings[-1]
    item = ddb.get_item(
        TableName=sandbox.outputs["table_name"],
        Key={"device_id": {"S": reading["device_id"]}, "ts": {"N": str(reading["ts"])}},
    )["Item"]
    metrics = {k: float(v["N"]) for k, v in item["metrics"]["M"].items()}
    assert metrics == pytest.approx({k: float(v) for k, v in reading["metrics"].items()})
    expires_at = int(item["expires_at"]["N"])
    assert expires_at > reading["ts"] // 1000  # seconds, and in the future of the reading
    assert expires_at < 10**11  # a milliseconds value here would never expire


def test_every_poison_record_is_quarantined_with_its_reason(sandbox, sent):
    quarantined = _quarantine(sandbox, sent["poison"])
    assert Counter(q["reason_code"] for q in quarantined) == Counter(i.kind for i in sent["items"] if i.kind != "valid")
    assert all(
        q["reason"] and q["shard_id"] and q["sequence_number"] and q["data_base64"] is not None for q in quarantined
    )


def test_counts_add_up_and_nothing_went_to_the_failure_queue(sandbox, sent):
    assert sum(_table_keys(sandbox).values()) + len(_quarantine(sandbox, sent["poison"])) == sent["result"].sent
    sqs = sandbox.client("sqs")
    attrs = sqs.get_queue_attributes(
        QueueUrl=sandbox.outputs["ingest_failure_queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    ingest = [m for m in sent["run"]["mappings"] if m["function_name"] == sandbox.outputs["ingest_function_name"]]
    assert ingest and ingest[0]["records_delivered"] == RECORDS + POISON


def test_redelivery_from_trim_horizon_creates_no_duplicates(sandbox, sent):
    before_items, before_quarantine = sum(_table_keys(sandbox).values()), len(_quarantine(sandbox, sent["poison"]))
    again = json.loads(opsctl(sandbox, "sandbox", "run", "--from-start", "--output", "json").stdout)
    ingest = next(m for m in again["mappings"] if m["function_name"] == sandbox.outputs["ingest_function_name"])
    assert ingest["records_delivered"] >= RECORDS + POISON  # really delivered again
    keys = _table_keys(sandbox)
    assert sum(keys.values()) == before_items and all(n == 1 for n in keys.values())
    assert len(_quarantine(sandbox, sent["poison"])) == before_quarantine == POISON


def test_resent_traffic_is_idempotent(sandbox, sent):
    before = sum(_table_keys(sandbox).values())
    traffic.send(
        sandbox.client("kinesis"), sandbox.outputs["stream_name"], [i for i in sent["items"] if i.kind == "valid"]
    )
    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")
    assert sum(_table_keys(sandbox).values()) == before


def test_lambda_metrics_are_published_like_lambda_would(sandbox, sent):
    cw = sandbox.client("cloudwatch")
    fn = sandbox.outputs["ingest_function_name"]
    names = {
        m["MetricName"]
        for m in cw.list_metrics(Namespace="AWS/Lambda", Dimensions=[{"Name": "FunctionName", "Value": fn}])["Metrics"]
    }
    assert {"Invocations", "Errors", "Duration", "IteratorAge"} <= names


def test_cli_traffic_and_inspect_report_what_landed(sandbox, sent):
    before = json.loads(opsctl(sandbox, "sandbox", "inspect", "--output", "json").stdout)
    sent_cli = json.loads(
        opsctl(
            sandbox,
            "sandbox",
            "traffic",
            "--devices",
            "2",
            "--records",
            "40",
            "--poison",
            "3",
            "--seed",
            "99",
            "--output",
            "json",
        ).stdout
    )
    assert sent_cli["sent"] == 43 and sent_cli["poison_total"] == 3
    opsctl(sandbox, "sandbox", "run", "--output", "json")
    landed = json.loads(opsctl(sandbox, "sandbox", "inspect", "--output", "json").stdout)
    # inspect counts the whole sandbox (other modules' traffic included): what it says must be what is there,
    # and the CLI's 3 poison records must be 3 more quarantined records.
    assert landed["table"]["items"] == _table_items(sandbox)
    assert landed["quarantine"]["records"] == len(_quarantine(sandbox)) == before["quarantine"]["records"] + 3
    assert landed["ingest_failure_queue"]["visible"] == 0


def test_terraform_plan_against_the_sandbox_shows_no_changes(sandbox, sent):
    assert terraform_plan_exit_code(sandbox) == 0
