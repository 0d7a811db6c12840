"""A settings change never replaces the readings table: terraform/modules/telemetry_table applied to a sandbox of
this module's own (a moto server with the sandbox's patches, opsctl.sandbox.moto_main), then planned and applied in
every other mode. The plans (`terraform show -json` of a saved plan) must hold no delete or replace of the table,
the applies must keep its items, and state made by the two-resource module (tests/e2e/fixtures/
telemetry_table_two_resources, `this[0]` and `autoscaled[0]`, all three shapes in one root) must move to the one
resource without replacement.

The root module here holds only what the table needs (its KMS key and the module), with the provider pointed at the
sandbox as envs/local does: the whole local stack would take minutes per apply, and only the table module changes
between modes (envs and the pipeline module pass the variables through)."""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from opsctl.core import tf
from opsctl.sandbox import server

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-table-switch")]

ROOT = Path(__file__).resolve().parents[2]
NEW_MODULE = ROOT / "terraform" / "modules" / "telemetry_table"
OLD_MODULE = Path(__file__).with_name("fixtures") / "telemetry_table_two_resources"
REGION = "eu-west-1"
TF_TIMEOUT_S = 300  # seconds per terraform call: a resource moto cannot serve fails here instead of hanging

ON_DEMAND = {"billing_mode": "PAY_PER_REQUEST", "autoscaling_enabled": False}
FIXED = {"billing_mode": "PROVISIONED", "autoscaling_enabled": False, "read_capacity": 7, "write_capacity": 9}
AUTOSCALED = {
    "billing_mode": "PROVISIONED",
    "autoscaling_enabled": True,
    "autoscaling_read": {"min_capacity": 4, "max_capacity": 40, "target_utilization_percent": 70},
    "autoscaling_write": {"min_capacity": 12, "max_capacity": 120, "target_utilization_percent": 70},
}
MODES = {"on_demand": ON_DEMAND, "fixed": FIXED, "autoscaled": AUTOSCALED}

ROOT_TF = """
provider "aws" {{
  region                      = "{region}"
  access_key                  = "sandbox"
  secret_key                  = "sandbox"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true

  endpoints {{
    applicationautoscaling = "{endpoint}"
    dynamodb               = "{endpoint}"
    kms                    = "{endpoint}"
    sts                    = "{endpoint}"
  }}
}}

terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
    }}
  }}
}}

variable "table" {{
  type = any
}}

resource "aws_kms_key" "table" {{
  description         = "readings table"
  enable_key_rotation = true
}}

module "table" {{
  source = "{module}"

  name                        = var.table.name
  kms_key_arn                 = aws_kms_key.table.arn
  deletion_protection_enabled = true
  billing_mode                = var.table.billing_mode
  autoscaling_enabled         = var.table.autoscaling_enabled
  read_capacity               = lookup(var.table, "read_capacity", 5)
  write_capacity              = lookup(var.table, "write_capacity", 5)
  autoscaling_read            = lookup(var.table, "autoscaling_read", {{}})
  autoscaling_write           = lookup(var.table, "autoscaling_write", {{}})
}}
"""


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("table-switch-sandbox")
    state = server.start(None, state_dir)
    yield state.endpoint
    server.stop(state_dir)


class Stack:
    """One root module (the table and its key) in its own folder, with its own state, against the sandbox."""

    def __init__(self, workdir: Path, endpoint: str, name: str):
        self.workdir, self.endpoint, self.name = workdir, endpoint, name
        workdir.mkdir(parents=True, exist_ok=True)

    def use_module(self, module: Path) -> None:
        # A copy beside the root, so that `source` is a relative path as in the envs (and the old module
        # can be swapped for the new one under the same state).
        shutil.rmtree(self.workdir / "table_module", ignore_errors=True)
        shutil.copytree(module, self.workdir / "table_module", ignore=shutil.ignore_patterns(".terraform*"))
        (self.workdir / "main.tf").write_text(
            ROOT_TF.format(region=REGION, endpoint=self.endpoint, module="./table_module")
        )
        tf.init(self.workdir, timeout=TF_TIMEOUT_S)

    def _vars(self, mode: dict, tag: str = "mode") -> list[str]:
        path = self.workdir / f"{tag}.tfvars.json"
        path.write_text(json.dumps({"table": {"name": self.name, **mode}}))
        return [f"-var-file={path.name}"]

    def apply(self, mode: dict) -> None:
        tf.run(
            self.workdir,
            ["apply", "-auto-approve", "-input=false", "-no-color", *self._vars(mode)],
            timeout=TF_TIMEOUT_S,
        )

    def plan(self, mode: dict, tag: str = "switch", *, lock: bool = True) -> dict:
        """`terraform show -json` of the saved plan to `mode` (plans of different tags may run at once unlocked)."""
        args = ["plan", "-input=false", "-no-color", f"-out={tag}.plan", *self._vars(mode, tag)]
        tf.run(self.workdir, args + ([] if lock else ["-lock=false"]), timeout=TF_TIMEOUT_S)
        return json.loads(tf.run(self.workdir, ["show", "-json", f"{tag}.plan"], timeout=TF_TIMEOUT_S))

    def survey(self, current: dict, others: dict[str, dict]) -> tuple[int, dict[str, dict]]:
        """From the state as it is: the clean-plan exit code for `current` and a plan to each of `others`, run at
        once (plans only read the state, so they run without its lock; each has its own variables and plan file).
        Terraform's provider start-up, not the sandbox, is most of a plan's time: three at once take about one's."""
        with ThreadPoolExecutor(max_workers=1 + len(others)) as pool:
            clean = pool.submit(self.plan_exit_code, current, lock=False)
            plans = {name: pool.submit(self.plan, mode, f"to-{name}", lock=False) for name, mode in others.items()}
            return clean.result(), {name: f.result() for name, f in plans.items()}

    def plan_exit_code(self, mode: dict, *, lock: bool = True) -> int:
        """`plan -detailed-exitcode`: 0 = nothing to change, 2 = changes."""
        proc = subprocess.run(
            [
                tf.terraform_binary(),
                "plan",
                "-input=false",
                "-no-color",
                "-detailed-exitcode",
                *([] if lock else ["-lock=false"]),
                *self._vars(mode, "clean"),
            ],
            cwd=self.workdir,
            env=tf.cli_environment(),
            capture_output=True,
            text=True,
            timeout=TF_TIMEOUT_S,
        )
        assert proc.returncode in (0, 2), proc.stderr
        return proc.returncode

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )

    def put_readings(self, device: str, count: int) -> None:
        ddb = self.client("dynamodb")
        for i in range(count):
            ddb.put_item(
                TableName=self.name,
                Item={"device_id": {"S": device}, "ts": {"N": str(1_764_633_600_000 + i)}, "temp": {"N": "21.5"}},
            )

    def readings(self) -> int:
        pages = self.client("dynamodb").get_paginator("scan").paginate(TableName=self.name, Select="COUNT")
        return sum(p["Count"] for p in pages)

    def table(self) -> dict:
        return self.client("dynamodb").describe_table(TableName=self.name)["Table"]

    def capacity(self) -> tuple[str, int, int]:
        t = self.table()
        pt = t.get("ProvisionedThroughput", {})
        mode = t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        return mode, pt.get("ReadCapacityUnits"), pt.get("WriteCapacityUnits")

    def targets(self) -> dict[str, tuple[int, int]]:
        found = self.client("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="dynamodb", ResourceIds=[f"table/{self.name}"]
        )["ScalableTargets"]
        return {t["ScalableDimension"].rsplit(":", 1)[-1]: (t["MinCapacity"], t["MaxCapacity"]) for t in found}

    def policies(self) -> list[str]:
        found = self.client("application-autoscaling").describe_scaling_policies(
            ServiceNamespace="dynamodb", ResourceId=f"table/{self.name}"
        )["ScalingPolicies"]
        return sorted(p["PolicyName"] for p in found)


def table_changes(plan: dict) -> list[dict]:
    return [rc for rc in plan.get("resource_changes", []) if rc["type"] == "aws_dynamodb_table"]


def assert_table_kept(plan: dict, *, moved_from: str | None = None) -> dict:
    """The plan keeps the one table: updated in place or untouched, never deleted, replaced or created anew."""
    (change,) = table_changes(plan)
    actions = change["change"]["actions"]
    assert "delete" not in actions and "create" not in actions, f"{change['address']}: {actions}"
    assert change["address"] == "module.table.aws_dynamodb_table.this"
    assert change.get("previous_address") == moved_from, change.get("previous_address")
    return change


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("table-switch")


def test_every_switch_between_modes_updates_the_table_in_place_and_keeps_its_items(endpoint, workspace):
    stack = Stack(workspace / "switch", endpoint, "telemetry-switch-readings")
    stack.use_module(NEW_MODULE)
    stack.apply(FIXED)
    stack.put_readings("dev-0001", 30)

    # Created PROVISIONED, so the one switch to on demand comes first (AWS limits those per 24 hours, not the way
    # back); from each state a plan to both other modes, so every one of the six switches is planned, and after
    # each apply a plan to the mode applied must be clean (nothing fights the scalable targets).
    current = "fixed"
    order = ("on_demand", "autoscaled", "fixed")
    clean, plans = stack.survey(FIXED, {o: m for o, m in MODES.items() if o != current})
    assert clean == 0, "a second plan in fixed (the first apply) still has changes"
    for step, target in enumerate(order):
        for other, plan in plans.items():
            mode = MODES[other]
            change = assert_table_kept(plan)
            billing_switch = MODES[current]["billing_mode"] != mode["billing_mode"]
            assert change["change"]["actions"] == (["update"] if billing_switch else ["no-op"]), (current, other)
            if not billing_switch:  # fixed <-> auto scaled: the same scalable targets, their range updated
                targets = [rc for rc in plan["resource_changes"] if rc["type"] == "aws_appautoscaling_target"]
                assert [rc["change"]["actions"] for rc in targets] == [["update"], ["update"]], (current, other)
        stack.apply(MODES[target])
        current = target
        assert stack.readings() == 30, f"items lost switching to {target}"
        last = step == len(order) - 1
        clean, plans = stack.survey(MODES[target], {} if last else {o: m for o, m in MODES.items() if o != target})
        assert clean == 0, f"a second plan in {target} still has changes"
        billing, rcu, wcu = stack.capacity()
        if target == "on_demand":
            assert billing == "PAY_PER_REQUEST" and stack.targets() == {} and stack.policies() == []
        elif target == "fixed":
            # min = max = the fixed value; registering the target moved the table's capacity there, as on AWS.
            assert billing == "PROVISIONED" and (rcu, wcu) == (7, 9)
            assert stack.targets() == {"ReadCapacityUnits": (7, 7), "WriteCapacityUnits": (9, 9)}
            assert stack.policies() == []
        else:
            assert billing == "PROVISIONED" and (rcu, wcu) == (4, 12)
            assert stack.targets() == {"ReadCapacityUnits": (4, 40), "WriteCapacityUnits": (12, 120)}
            assert stack.policies() == [
                "telemetry-switch-readings-read-target-tracking",
                "telemetry-switch-readings-write-target-tracking",
            ]
    assert stack.table()["DeletionProtectionEnabled"] is True


# The state shapes the two-resource module could leave: on demand and fixed as `this[0]`, auto scaled as
# `autoscaled[0]`.
OLD_SHAPES = {"on_demand": "this[0]", "fixed": "this[0]", "autoscaled": "autoscaled[0]"}


class OldShapes(Stack):
    """One root with a table of each old state shape (one module instance each), so that the three shapes cost
    one apply, one init and one plan instead of three of each: the moves are per module instance all the same."""

    def __init__(self, workdir: Path, endpoint: str):
        super().__init__(workdir, endpoint, "unused")
        self.tables = {mode: Stack(workdir, endpoint, f"telemetry-old-{mode.replace('_', '-')}") for mode in OLD_SHAPES}

    def use_module(self, module: Path) -> None:
        shutil.rmtree(self.workdir / "table_module", ignore_errors=True)
        shutil.copytree(module, self.workdir / "table_module", ignore=shutil.ignore_patterns(".terraform*"))
        head, block = ROOT_TF.split('module "table" {{', 1)
        block = 'module "table" {{' + block
        text = head.replace('variable "table" {{', 'variable "tables" {{') + "".join(
            block.replace('module "table"', f'module "table_{mode}"').replace("var.table", f"var.tables.{mode}")
            for mode in OLD_SHAPES
        )
        (self.workdir / "main.tf").write_text(
            text.format(region=REGION, endpoint=self.endpoint, module="./table_module")
        )
        tf.init(self.workdir, timeout=TF_TIMEOUT_S)

    def _vars(self, mode: dict | None, tag: str = "tables") -> list[str]:
        path = self.workdir / f"{tag}.tfvars.json"
        tables = {m: {"name": self.tables[m].name, **MODES[m]} for m in OLD_SHAPES}
        path.write_text(json.dumps({"tables": tables}))
        return [f"-var-file={path.name}"]

    def table_addresses(self) -> set[str]:
        state = json.loads(tf.run(self.workdir, ["show", "-json"], timeout=TF_TIMEOUT_S))
        return {
            r["address"]
            for child in state["values"]["root_module"]["child_modules"]
            for r in child["resources"]
            if r["type"] == "aws_dynamodb_table"
        }


def test_state_of_the_two_resource_module_moves_to_the_one_table_without_replacement(endpoint, workspace):
    stack = OldShapes(workspace / "old-shapes", endpoint)
    stack.use_module(OLD_MODULE)
    stack.apply({})
    # the old module really made each shape this test is about
    assert stack.table_addresses() == {f"module.table_{m}.aws_dynamodb_table.{old}" for m, old in OLD_SHAPES.items()}
    for mode, table in stack.tables.items():
        table.put_readings(f"dev-{mode}", 12)

    stack.use_module(NEW_MODULE)
    plan = stack.plan({})
    changes = {rc["address"]: rc for rc in table_changes(plan)}
    assert sorted(changes) == sorted(f"module.table_{m}.aws_dynamodb_table.this" for m in OLD_SHAPES)
    for mode, old in OLD_SHAPES.items():
        change = changes[f"module.table_{mode}.aws_dynamodb_table.this"]
        assert change.get("previous_address") == f"module.table_{mode}.aws_dynamodb_table.{old}", mode
        assert change["change"]["actions"] == ["no-op"], f"{mode}: the move alone must change nothing on the table"
    stack.apply({})
    assert {mode: table.readings() for mode, table in stack.tables.items()} == dict.fromkeys(OLD_SHAPES, 12)
    assert stack.plan_exit_code({}) == 0
    assert stack.table_addresses() == {f"module.table_{m}.aws_dynamodb_table.this" for m in OLD_SHAPES}


def test_the_sandbox_never_lets_a_replacement_through_deletion_protection(endpoint):
    """Why the plans above matter on AWS: a protected table refuses DeleteTable, so a replacing plan would fail
    half-way. The sandbox refuses it too (moto honours DeletionProtectionEnabled)."""
    ddb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
    ddb.create_table(
        TableName="telemetry-protected",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "device_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
        DeletionProtectionEnabled=True,
    )
    with pytest.raises(ddb.exceptions.ClientError) as refused:
        ddb.delete_table(TableName="telemetry-protected")
    assert "deletionprotectionenabled is set to true" in str(refused.value).lower()
    assert ddb.describe_table(TableName="telemetry-protected")["Table"]["TableStatus"] == "ACTIVE"
