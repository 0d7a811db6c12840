"""`opsctl capacity --apply` against the real DynamoDB and Application Auto Scaling APIs (moto): an auto scaled
table gets its new range through RegisterScalableTarget and prod's variables record it; an index, which this
project's Terraform does not define, is changed but flagged as untracked; and the plan is what the report says."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from moto import mock_aws

from opsctl.capacity import planner as cap
from opsctl.core import tfvars
from opsctl.core.aws import AwsTarget
from opsctl.core.stack import Stack

NOW = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)


def _seed(cw, table, per_minute, index=None):
    dims = [{"Name": "TableName", "Value": table}] + (
        [{"Name": "GlobalSecondaryIndexName", "Value": index}] if index else []
    )
    cw.put_metric_data(
        Namespace="AWS/DynamoDB",
        MetricData=[
            {
                "MetricName": "ConsumedWriteCapacityUnits",
                "Dimensions": dims,
                "Value": float(per_minute),
                "Timestamp": NOW - dt.timedelta(minutes=i + 1),
            }
            for i in range(60)
        ],
    )


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setattr(tfvars, "ENVS_DIR", tmp_path)
    (tmp_path / "prod").mkdir()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="readings",
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 80},
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "device_id", "AttributeType": "S"},
                {"AttributeName": "site", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-site",
                    "KeySchema": [{"AttributeName": "site", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                    "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                }
            ],
        )
        aas = boto3.client("application-autoscaling", region_name="us-east-1")
        for dim in ("Read", "Write"):
            aas.register_scalable_target(
                ServiceNamespace="dynamodb",
                ResourceId="table/readings",
                ScalableDimension=f"dynamodb:table:{dim}CapacityUnits",
                MinCapacity=5,
                MaxCapacity=100,
            )
            aas.put_scaling_policy(
                PolicyName=f"readings-{dim}",
                ServiceNamespace="dynamodb",
                ResourceId="table/readings",
                ScalableDimension=f"dynamodb:table:{dim}CapacityUnits",
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": 70.0,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": f"DynamoDB{dim}CapacityUtilization"},
                },
            )
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        _seed(cw, "readings", 3000)  # 50 WCU/s → auto scaling 72–108 at 70 %
        _seed(cw, "readings", 600, index="by-site")  # 10 WCU/s on the index → 15 WCU (it has 1)
        yield Stack(env="prod", target=AwsTarget(region="us-east-1"), outputs={"table_name": "readings"})


def test_apply_moves_the_auto_scaling_range_and_records_prods_variables(stack):
    report = cap.build(
        stack,
        cap.scope(stack, None, headroom=0.7, target_pct=None),
        window=dt.timedelta(hours=1),
        prices=cap.load_prices(None),
        now=NOW,
    )
    plan = {c.resource: c for c in cap.plan_changes(stack, report)}
    table, index = plan["readings"], plan["readings/by-site"]
    assert table.action == "set_autoscaling" and table.changes["write_autoscaling"] == {
        "min": 72,
        "max": 108,
        "target_pct": 70.0,
    }
    assert table.untracked is None
    assert table.tfvars["table_autoscaling_write"] == {
        "min_capacity": 72,
        "max_capacity": 108,
        "target_utilization_percent": 70.0,
    }
    assert index.changes == {"write_capacity": 15} and "no Terraform variable" in index.untracked
    cap.apply_change(stack, table)
    after = cap.apply_change(stack, index)
    targets = stack.target.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="dynamodb", ResourceIds=["table/readings"]
    )
    ranges = {
        t["ScalableDimension"].split(":")[-1]: (t["MinCapacity"], t["MaxCapacity"]) for t in targets["ScalableTargets"]
    }
    assert ranges == {"WriteCapacityUnits": (72, 108), "ReadCapacityUnits": (1, 2)}
    assert after["write_capacity"] == 15
    for name, value in table.tfvars.items():
        tfvars.record("prod", name, value)
    recorded = json.loads((tfvars.ENVS_DIR / "prod" / tfvars.FILE_NAME).read_text())
    assert recorded["table_autoscaling_write"]["max_capacity"] == 108


def test_an_environment_without_the_variable_is_told_to_change_terraform_by_hand(stack):
    local = Stack(env="dev", target=stack.target, outputs=stack.outputs)
    report = cap.build(
        local,
        cap.scope(local, None, headroom=0.7, target_pct=None),
        window=dt.timedelta(hours=1),
        prices=cap.load_prices(None),
        now=NOW,
    )
    (table,) = [c for c in cap.plan_changes(local, report) if c.resource == "readings"]
    assert "declares no table_autoscaling_read, table_autoscaling_write" in table.untracked


def test_a_fixed_capacity_held_by_a_min_equals_max_target_moves_with_the_table(tmp_path, monkeypatch):
    """terraform/modules/telemetry_table holds a fixed PROVISIONED capacity with a scalable target of min = max and
    no policy: the report sees no auto scaling there, and --apply moves the target with the table, so the next
    RegisterScalableTarget does not put the old capacity back and the recorded variables match it."""
    monkeypatch.setattr(tfvars, "ENVS_DIR", tmp_path)
    (tmp_path / "dev").mkdir()
    monkeypatch.setattr(cap, "_declared_variables", lambda env: {"table_read_capacity", "table_write_capacity"})
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="fixed",
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "device_id", "AttributeType": "S"}],
        )
        aas = boto3.client("application-autoscaling", region_name="us-east-1")
        for dim in ("Read", "Write"):
            aas.register_scalable_target(
                ServiceNamespace="dynamodb",
                ResourceId="table/fixed",
                ScalableDimension=f"dynamodb:table:{dim}CapacityUnits",
                MinCapacity=5,
                MaxCapacity=5,
            )
        _seed(boto3.client("cloudwatch", region_name="us-east-1"), "fixed", 600)  # 10 WCU/s → 15 at 70 %
        stack = Stack(env="dev", target=AwsTarget(region="us-east-1"), outputs={"table_name": "fixed"})
        report = cap.build(
            stack,
            cap.scope(stack, None, headroom=0.7, target_pct=None),
            window=dt.timedelta(hours=1),
            prices=cap.load_prices(None, "us-east-1"),
            now=NOW,
        )
        (t,) = report["tables"]
        assert t["autoscaled"] is False and t["action"] == "set_capacity"
        (change,) = cap.plan_changes(stack, report)
        after = cap.apply_change(stack, change)
        ranges = {
            x["ScalableDimension"].split(":")[-1]: (x["MinCapacity"], x["MaxCapacity"])
            for x in aas.describe_scalable_targets(ServiceNamespace="dynamodb", ResourceIds=["table/fixed"])[
                "ScalableTargets"
            ]
        }
    assert (after["read_capacity"], after["write_capacity"]) == (change.changes["read_capacity"], 15)
    assert ranges["WriteCapacityUnits"] == (15, 15)
    assert ranges["ReadCapacityUnits"] == (after["read_capacity"],) * 2
    assert change.tfvars["table_write_capacity"] == 15


# --- a capacity given by hand: `opsctl capacity --apply --write-capacity N` / `--on-demand` ------------------------


@pytest.fixture
def on_demand(tmp_path, monkeypatch):
    """dev's readings table, on demand (dev declares the billing mode and both capacities)."""
    monkeypatch.setattr(tfvars, "ENVS_DIR", tmp_path)
    (tmp_path / "dev").mkdir()
    with mock_aws():
        from opsctl.sandbox import table_capacity

        table_capacity.install()  # AWS's answers to a switch (moto keeps the old units on demand)
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="readings",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "device_id", "AttributeType": "S"}],
        )
        yield Stack(env="dev", target=AwsTarget(region="us-east-1"), outputs={"table_name": "readings"})


def _live(stack) -> tuple[str, int, int]:
    t = stack.target.client("dynamodb").describe_table(TableName="readings")["Table"]
    pt = t["ProvisionedThroughput"]
    return t["BillingModeSummary"]["BillingMode"], pt["ReadCapacityUnits"], pt["WriteCapacityUnits"]


def test_a_capacity_by_hand_switches_raises_and_goes_back_on_demand_recording_devs_variables(on_demand):
    stack = on_demand
    c = cap.explicit_change(stack, None, write=3, read=40, on_demand=False)
    assert (c.action, c.decreases, c.untracked) == ("switch_to_provisioned", 0, None)
    assert c.tfvars == {"table_billing_mode": "PROVISIONED", "table_read_capacity": 40, "table_write_capacity": 3}
    cap.apply_change(stack, c)
    assert _live(stack) == ("PROVISIONED", 40, 3)
    up = cap.explicit_change(stack, "readings", write=441, read=None, on_demand=False)
    assert (up.action, up.changes, up.decreases, up.tfvars) == (
        "set_capacity",
        {"write_capacity": 441},
        0,
        {"table_write_capacity": 441},
    )
    cap.apply_change(stack, up)
    assert _live(stack) == ("PROVISIONED", 40, 441)
    down = cap.explicit_change(stack, None, write=None, read=5, on_demand=False)
    assert down.changes == {"read_capacity": 5} and down.decreases == 1  # a decrease spends today's quota
    back = cap.explicit_change(stack, None, write=None, read=None, on_demand=True)
    assert (back.action, back.tfvars) == ("switch_to_on_demand", {"table_billing_mode": "PAY_PER_REQUEST"})
    cap.apply_change(stack, back)
    assert _live(stack) == ("PAY_PER_REQUEST", 0, 0)


def test_a_capacity_by_hand_refuses_what_changes_nothing_or_another_table(on_demand):
    from opsctl.core.errors import InvalidArgument, OpsError

    stack = on_demand
    with pytest.raises(OpsError, match="already on demand"):
        cap.explicit_change(stack, None, write=None, read=None, on_demand=True)
    with pytest.raises(InvalidArgument, match="only the environment's readings table") as other:
        cap.explicit_change(stack, "rollups", write=5, read=None, on_demand=False)
    assert other.value.arguments == ("table_names",)
    with pytest.raises(InvalidArgument, match="from 1 to 40,000") as zero:
        cap.explicit_change(stack, None, write=0, read=None, on_demand=False)
    assert zero.value.arguments == ("write_capacity",)
    cap.apply_change(stack, cap.explicit_change(stack, None, write=3, read=3, on_demand=False))
    with pytest.raises(OpsError, match="already has 3 RCU / 3 WCU"):
        cap.explicit_change(stack, None, write=3, read=None, on_demand=False)


def test_capacity_by_hand_flags_need_apply_and_on_demand_takes_none():
    import subprocess
    import sys

    for args, text in [
        (["capacity", "--write-capacity", "3"], "go with --apply"),
        (["capacity", "--apply", "--on-demand", "--write-capacity", "3"], "--on-demand takes no capacity"),
    ]:
        proc = subprocess.run(
            [sys.executable, "-m", "opsctl.cli.app", *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 1 and text in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
