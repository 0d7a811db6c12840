"""Each function runs as its own execution role, and the sandbox enforces that role's policy: with the
ingest function's `dynamodb:BatchWriteItem` grant taken away, its writes are refused (AccessDenied in its
log), its readings are kept (not in the table, the failed batch referenced by the on-failure queue while
the records stay in the stream) and, once the grant is back, the replay delivers every one of them.

On the worker's shared sandbox (an apply of its own cost a minute and a half of the suite): its device is its own,
it counts only that device's readings, and the grant is put back whatever happens. Anything earlier modules left
on the stream meets the removed grant too, lands in the failure queue and is delivered by the same replay, so
the modules after it find the failure queue empty, as before."""

from __future__ import annotations

import json
import time

import pytest

from .sandbox_harness import opsctl

# A group of its own: pytest-xdist runs the module on one worker, so its module fixtures run once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-iam")]

READINGS = 30


def _ingest_policy(sandbox) -> tuple[str, str, dict]:
    iam = sandbox.client("iam")
    role_arn = sandbox.client("lambda").get_function_configuration(
        FunctionName=sandbox.outputs["ingest_function_name"]
    )["Role"]
    role = role_arn.rsplit("/", 1)[1]
    name = f"{sandbox.outputs['ingest_function_name']}-least-privilege"  # terraform/modules/python_function
    assert name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    return role, name, iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]


def _without(policy: dict, action: str) -> dict:
    statements = []
    for s in policy["Statement"]:
        actions = [a for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]) if a != action]
        if actions:
            statements.append({**s, "Action": actions})
    return {**policy, "Statement": statements}


def test_a_removed_grant_is_access_denied_and_the_readings_are_kept_then_delivered(sandbox):
    sb, o = sandbox, sandbox.outputs
    iam, table, sqs = sb.client("iam"), sb.client("dynamodb"), sb.client("sqs")
    role, policy_name, policy = _ingest_policy(sb)
    assert "dynamodb:BatchWriteItem" in json.dumps(policy)
    now_ms = int(time.time() * 1000)
    device = f"iam-{now_ms}"

    def readings() -> list[int]:
        items = table.query(
            TableName=o["table_name"],
            KeyConditionExpression="device_id = :d",
            ExpressionAttributeValues={":d": {"S": device}},
        )["Items"]
        return sorted(int(i["ts"]["N"]) for i in items)

    iam.put_role_policy(
        RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(_without(policy, "dynamodb:BatchWriteItem"))
    )
    try:
        records = [
            {
                "Data": json.dumps({"device_id": device, "ts": now_ms + i, "metrics": {"temp_c": 20 + i}}).encode(),
                "PartitionKey": device,
            }
            for i in range(READINGS)
        ]
        assert (
            not sb.client("kinesis").put_records(StreamName=o["stream_name"], Records=records).get("FailedRecordCount")
        )
        opsctl(sb, "sandbox", "run", "--until-idle", "--output", "json")

        log = (sb.state_dir / "logs" / f"{o['ingest_function_name']}.log").read_text()
        assert "AccessDenied" in log and "dynamodb:BatchWriteItem" in log
        assert readings() == []  # not written ...
        depth = sqs.get_queue_attributes(
            QueueUrl=o["ingest_failure_queue_url"], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        assert int(depth) >= 1  # ... and not lost: the failed batch is referenced for replay
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(policy))

    report = json.loads(
        opsctl(sb, "replay-dlq", "--source", "ingest", "--via", "invoke", "--yes", "--output", "json").stdout
    )
    assert report["failed"] == 0
    assert readings() == [now_ms + i for i in range(READINGS)]
