"""What a first real deployment needs from the Terraform, beyond what moto can show: a provider range that was
tested, a Scheduler role no other account's schedule can use, a dead-letter queue for the asynchronously invoked
report, and a bound on the public api function's concurrency in prod."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from opsctl.core.project import TERRAFORM_DIR

from .test_policies import ENVS_DIR, MODULES_DIR, blocks, first, parse, resources, tf_files

TESTED_AWS_PROVIDER = (5, 100)  # the provider mirror this project is tested with (.ci/find-tf-mirror)


def _aws_constraints() -> list[tuple[Path, str]]:
    found = []
    for path in tf_files():
        if "datadog" in path.parts or path.name != "versions.tf":
            continue
        for tf in parse(path).get("terraform", []):
            for req in tf.get("required_providers", []):
                aws = req.get("aws")
                if aws:
                    found.append((path, aws["version"]))
    return found


def _allows(constraint: str, version: tuple[int, int, int]) -> bool:
    """A Terraform version constraint of >=, <, <=, >, = parts (what this project uses) against a version."""
    for part in constraint.split(","):
        op, ver = re.fullmatch(r"\s*(>=|<=|>|<|=|)\s*([0-9.]+)\s*", part).groups()
        want = tuple(int(x) for x in [*ver.split("."), "0", "0"][:3])
        ok = {
            ">=": version >= want,
            "<=": version <= want,
            ">": version > want,
            "<": version < want,
            "=": version == want,
            "": version == want,
        }[op]
        if not ok:
            return False
    return True


def test_every_root_and_module_pins_the_aws_provider_to_the_tested_major():
    constraints = _aws_constraints()
    assert len(constraints) >= 19  # every module and every env
    for path, constraint in constraints:
        where = path.relative_to(TERRAFORM_DIR)
        assert _allows(constraint, (*TESTED_AWS_PROVIDER, 0)), f"{where}: {constraint} refuses the tested 5.100.0"
        assert not _allows(constraint, (6, 0, 0)), f"{where}: {constraint} lets a fresh init pick the untested 6.x"
        assert not _allows(constraint, (5, 0, 0)), f"{where}: {constraint} allows providers older than tested"


def test_the_scheduler_role_trusts_scheduler_only_for_this_account():
    (role,) = [b for p, _, b in resources("aws_iam_role", MODULES_DIR / "lambda_schedule")]
    policy = str(role["assume_role_policy"])
    assert "scheduler.amazonaws.com" in policy
    assert re.search(r"\"aws:SourceAccount\" = data\.aws_caller_identity\.current\.account_id", policy), (
        "without aws:SourceAccount any account's schedule could be handed this role (confused deputy)"
    )


def test_the_report_schedule_dead_letters_what_it_cannot_deliver_to_an_encrypted_queue():
    (schedule,) = [b for _, _, b in resources("aws_scheduler_schedule", MODULES_DIR / "lambda_schedule")]
    target = first(schedule["target"])
    assert "aws_sqs_queue.dead_letter.arn" in str(first(target["dead_letter_config"])["arn"])
    (queue,) = [b for _, _, b in resources("aws_sqs_queue", MODULES_DIR / "lambda_schedule")]
    assert "var.kms_key_arn" in str(queue["kms_master_key_id"]) and queue["message_retention_seconds"] == 1209600
    (policy,) = [b for _, _, b in resources("aws_iam_role_policy", MODULES_DIR / "lambda_schedule")]
    text = str(policy["policy"])
    assert "sqs:SendMessage" in text and "aws_sqs_queue.dead_letter.arn" in text and "kms:GenerateDataKey" in text


@pytest.mark.parametrize("env", ["prod"])
def test_prod_bounds_the_public_api_functions_concurrency(env: str):
    (pipeline,) = [b for _, n, b in blocks("module", ENVS_DIR / env) if n == "pipeline"]
    assert pipeline.get("api_reserved_concurrency") == "${var.api_reserved_concurrency}"
    (var,) = [b for _, n, b in blocks("variable", ENVS_DIR / env) if n == "api_reserved_concurrency"]
    assert isinstance(var["default"], int) and 1 <= var["default"] <= 100
    assert "ingest" in var["description"] and "concurrent" in var["description"]


def test_checkov_skips_say_what_is_true_of_the_functions_they_cover():
    text = (MODULES_DIR / "python_function" / "main.tf").read_text()
    reason_116 = re.search(r"CKV_AWS_116:(.*)", text).group(1)
    assert "asynchronously" in reason_116 and "dead-letter" in reason_116  # the report is invoked asynchronously
    assert "Invoked only synchronously" not in reason_116
    reason_115 = re.search(r"CKV_AWS_115:(.*)", text).group(1)
    assert "api" in reason_115  # the public function is the one that needs a bound
    quarantine = (MODULES_DIR / "private_bucket" / "main.tf").read_text()  # the quarantine is a private_bucket
    reason_144 = re.search(r"CKV_AWS_144:(.*)", quarantine).group(1)
    assert "failure queue" not in reason_144  # poison records are not on the failure queue: they succeeded


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_tfvars_example_passes_its_own_validation_when_copied(env: str, tmp_path: Path, plugin_dir: str | None):
    # terraform console evaluates every variable against its validation blocks, offline and without AWS.
    import shutil
    import subprocess

    shutil.copytree(TERRAFORM_DIR / "modules", tmp_path / "modules")
    root = tmp_path / "envs" / env
    shutil.copytree(ENVS_DIR / env, root, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "*.auto.tfvars*"))
    shutil.copy(root / "terraform.tfvars.example", root / "terraform.tfvars")
    # console needs an initialised backend: a local one in this copy (an override file replaces the S3 block).
    (root / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    init = ["terraform", "init", "-input=false", "-no-color"]
    if plugin_dir:
        init.append(f"-plugin-dir={plugin_dir}")
    done = subprocess.run(init, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    console = subprocess.run(
        ["terraform", "console", "-no-color"], cwd=root, input="1\n", capture_output=True, text=True, timeout=300
    )
    assert "Invalid value for variable" not in console.stderr + console.stdout, console.stderr
    assert console.returncode == 0 and console.stdout.strip().endswith("1"), console.stderr


def _console(root: Path, plugin_dir: str | None, expressions: list[str], *var_args: str) -> list:
    """The values of `expressions` in a copy of an env, by `terraform console` (offline, no AWS; it answers one
    expression from stdin, so they go in one list)."""
    import subprocess

    init = ["terraform", "init", "-input=false", "-no-color"]
    if plugin_dir:
        init.append(f"-plugin-dir={plugin_dir}")
    if not (root / ".terraform").exists():
        done = subprocess.run(init, cwd=root, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    console = subprocess.run(
        ["terraform", "console", "-no-color", *var_args],
        cwd=root,
        input=f"jsonencode([{', '.join(expressions)}])\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert console.returncode == 0, console.stderr
    return json.loads(json.loads(console.stdout.strip().splitlines()[-1]))


def test_prod_starts_on_demand_and_is_auto_scaled_from_a_floor_only_when_one_is_given(tmp_path: Path, plugin_dir):
    """The design's load (~1,000 device requests/s) throttled at once on the old 10 WCU / 5 RCU start."""
    import shutil

    shutil.copytree(TERRAFORM_DIR / "modules", tmp_path / "modules")
    root = tmp_path / "envs" / "prod"
    shutil.copytree(
        ENVS_DIR / "prod", root, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "*.auto.tfvars*")
    )
    (root / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    required = ["-var", "runbook_base_url=https://example.com/"]
    asked = ["local.table_provisioned", "local.table_autoscaling_write"]

    provisioned, _ = _console(root, plugin_dir, asked, *required)
    assert provisioned is False  # no floor: PAY_PER_REQUEST

    provisioned, write = _console(
        root, plugin_dir, asked, *required, "-var", "table_autoscaling_write={min_capacity=1500}"
    )
    assert provisioned is True
    assert write == {"min_capacity": 1500, "max_capacity": 4000, "target_utilization_percent": 70}
    # Only a read floor: writes start from the design's load, 1,000 writes/s at a 70 % target.
    provisioned, write = _console(
        root, plugin_dir, asked, *required, "-var", "table_autoscaling_read={min_capacity=50}"
    )
    assert provisioned is True and write["min_capacity"] == 1430 and write["min_capacity"] * 0.7 >= 1000

    (call,) = [b for _, n, b in blocks("module", ENVS_DIR / "prod") if n == "pipeline"]
    assert call["table_billing_mode"] == '${local.table_provisioned ? "PROVISIONED" : "PAY_PER_REQUEST"}'
    assert call["table_autoscaling_enabled"] == "${local.table_provisioned}"


def test_the_alerts_topic_takes_subscriptions_of_the_four_protocols_and_real_envs_pass_them():
    (sub,) = [b for _, _, b in resources("aws_sns_topic_subscription", MODULES_DIR / "alerts_topic")]
    assert "var.subscriptions" in str(sub["for_each"]) and "aws_sns_topic.this.arn" in str(sub["topic_arn"])
    (var,) = [b for _, n, b in blocks("variable", MODULES_DIR / "alerts_topic") if n == "subscriptions"]
    conditions = " ".join(str(v["condition"]) for v in var["validation"])
    assert all(p in conditions for p in ('"email"', '"https"', '"sqs"', '"lambda"'))
    for env in ("dev", "prod"):
        (pipeline,) = [b for _, n, b in blocks("module", ENVS_DIR / env) if n == "pipeline"]
        assert pipeline.get("alert_subscriptions") == "${var.alert_subscriptions}", env
    runbook = (TERRAFORM_DIR.parent / "runbooks" / "alert-pipeline.md").read_text()
    assert "PendingConfirmation" in runbook and "alert_subscriptions" in runbook


# --- state: a real backend, and the root that creates its bucket --------------------------------------------

BOOTSTRAP = TERRAFORM_DIR / "bootstrap"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_real_envs_keep_encrypted_locked_state_in_s3(env: str):
    backends = [
        b for path in tf_files(ENVS_DIR / env) for tf in parse(path).get("terraform", []) for b in tf.get("backend", [])
    ]
    (backend,) = backends
    s3 = backend["s3"]
    assert s3["encrypt"] is True and s3["use_lockfile"] is True  # Terraform's native lock file: no second apply
    assert s3["key"] == f"telemetry-pipeline/{env}/terraform.tfstate"
    assert "bucket" not in s3  # from backend.hcl (the bootstrap's output), never a placeholder in the repo


def test_the_sandbox_keeps_local_state():
    assert not [
        tf for path in tf_files(ENVS_DIR / "local") for tf in parse(path).get("terraform", []) if "backend" in tf
    ]


def test_bootstrap_creates_a_kms_encrypted_versioned_private_tls_only_state_bucket():
    def one(rtype: str) -> dict:
        (body,) = [b for _, _, b in resources(rtype, BOOTSTRAP)]
        return body

    assert one("aws_kms_key")["enable_key_rotation"] is True
    assert first(one("aws_s3_bucket_versioning")["versioning_configuration"])["status"] == "Enabled"
    block = one("aws_s3_bucket_public_access_block")
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    rule = first(
        first(one("aws_s3_bucket_server_side_encryption_configuration")["rule"])[
            "apply_server_side_encryption_by_default"
        ]
    )
    assert rule["sse_algorithm"] == "aws:kms" and "aws_kms_key.state.arn" in str(rule["kms_master_key_id"])
    assert '"aws:SecureTransport" = "false"' in str(one("aws_s3_bucket_policy")["policy"])
    assert first(one("aws_s3_bucket")["lifecycle"])["prevent_destroy"] is True


def test_bootstrap_initialises_and_validates(tmp_path: Path, plugin_dir: str | None):
    import subprocess

    env = {**__import__("os").environ, "TF_DATA_DIR": str(tmp_path / "tfdata")}
    init = ["terraform", "init", "-backend=false", "-input=false", "-no-color"]
    if plugin_dir:
        init.append(f"-plugin-dir={plugin_dir}")
    done = subprocess.run(init, cwd=BOOTSTRAP, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        ["terraform", "validate", "-no-color"], cwd=BOOTSTRAP, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr + done.stdout


def test_the_table_is_one_resource_whatever_the_mode_and_every_old_address_moves_to_it():
    """A billing-mode or auto-scaling switch must be an in-place update (tests/e2e/test_table_switch_sandbox.py
    plans and applies each one): one table resource without count, capacity left to the scalable targets, and a
    chain of moves (Terraform allows one move per destination) from both addresses of the two-resource module."""
    main = parse(MODULES_DIR / "telemetry_table" / "main.tf")
    tables = [b for r in main["resource"] for n, b in r.get("aws_dynamodb_table", {}).items()]
    assert len(tables) == 1 and "count" not in tables[0] and "for_each" not in tables[0]
    assert set(first(tables[0]["lifecycle"])["ignore_changes"]) == {"read_capacity", "write_capacity"}
    moves = {m["from"]: m["to"] for m in main["moved"]}
    assert moves == {
        "${aws_dynamodb_table.autoscaled[0]}": "${aws_dynamodb_table.this[0]}",
        "${aws_dynamodb_table.this[0]}": "${aws_dynamodb_table.this}",
    }


def test_tables_are_deletion_protected_everywhere_but_the_sandbox():
    (table,) = [b for _, _, b in resources("aws_dynamodb_table", MODULES_DIR / "telemetry_table")]
    assert table["deletion_protection_enabled"] == "${var.deletion_protection_enabled}"
    passed = [b for _, n, b in blocks("module", MODULES_DIR / "pipeline") if n in ("telemetry_table", "rollup_table")]
    assert len(passed) == 2 and all(
        b["deletion_protection_enabled"] == "${var.table_deletion_protection}" for b in passed
    )
    (default,) = [b for _, n, b in blocks("variable", MODULES_DIR / "pipeline") if n == "table_deletion_protection"]
    assert default["default"] is True
    for env in ("dev", "prod"):
        (pipeline,) = [b for _, n, b in blocks("module", ENVS_DIR / env) if n == "pipeline"]
        assert pipeline.get("table_deletion_protection", True) is True, env
    (local,) = [b for _, n, b in blocks("module", ENVS_DIR / "local") if n == "pipeline"]
    assert local["table_deletion_protection"] is False  # the sandbox is torn down with its tables
