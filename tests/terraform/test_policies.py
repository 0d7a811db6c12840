"""Our own policy checks on the Terraform source, where checkov has none or too weak ones: the Kinesis
consumer cannot be blocked by a poison record, the rollup queue's consumer cannot re-deliver a batch that is
still running (visibility timeout ≥ 6x the worker's) and dead-letters poison jobs, everything is encrypted
with the key, each function may do exactly what docs/architecture.md says, and the sandbox creates nothing
moto cannot serve."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from opsctl.core import tf
from opsctl.core.project import TERRAFORM_DIR

OPTIONS = SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False, preserve_heredocs=False
)
MODULES_DIR = TERRAFORM_DIR / "modules"
ENVS_DIR = TERRAFORM_DIR / "envs"
ENVS = ("local", "dev", "prod")
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")
INGEST_HANDLER = "ingest.handler.handler"
ROLLUP_HANDLER = "rollup.handler.handler"
SQS_CONSUMER = MODULES_DIR / "sqs_consumer"
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS: an SQS source queue's visibility timeout ≥ 6x the function timeout

# docs/architecture.md: what the ingest function calls, on what, and the environment it reads.
INGEST_ACTIONS = {
    "dynamodb:BatchWriteItem": "module.telemetry_table.table_arn",
    "s3:PutObject": "module.quarantine_bucket.objects_arn",
    "sqs:SendMessage": "module.rollup_consumer.queue_arn",
    "kms:GenerateDataKey": "module.kms_key.key_arn",
    "kms:Decrypt": "module.kms_key.key_arn",
}
INGEST_ENV_VARS = {
    "TABLE_NAME",
    "QUARANTINE_BUCKET",
    "QUARANTINE_PREFIX",
    "READING_TTL_DAYS",
    "READING_MAX_AGE_DAYS",
    "READING_MAX_FUTURE_SECONDS",
    "ROLLUP_QUEUE_URL",
    "LOG_LEVEL",
    "METRICS_NAMESPACE",
    "ENVIRONMENT",
}
# ... and what the rollup worker calls (its queue permissions come from the sqs_consumer module, checked below).
ROLLUP_ACTIONS = {
    "dynamodb:Query": "module.telemetry_table.table_arn",
    "dynamodb:PutItem": "module.rollup_table.table_arn",
    "dynamodb:BatchGetItem": "module.rollup_table.table_arn",  # the stored rollups' computed_at (coalescing)
    "kms:Decrypt": "module.kms_key.key_arn",
}
ROLLUP_ENV_VARS = {
    "READINGS_TABLE_NAME",
    "ROLLUP_TABLE_NAME",
    "ROLLUP_TTL_DAYS",
    "LOG_LEVEL",
    "METRICS_NAMESPACE",
    "ENVIRONMENT",
}
SQS_POLLER_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}
CONTRACT_OUTPUTS = {
    "environment",
    "region",
    "stream_name",
    "stream_arn",
    "table_name",
    "table_arn",
    "quarantine_bucket",
    "quarantine_prefix",
    "ingest_function_name",
    "ingest_function_arn",
    "ingest_failure_queue_url",
    "ingest_failure_queue_arn",
    "ingest_mapping_uuid",
    "kms_key_arn",
    "alerts_topic_arn",
    # issue 6 (replay-dlq) and the read API rely on these names
    "rollup_queue_url",
    "rollup_queue_arn",
    "rollup_dlq_url",
    "rollup_dlq_arn",
    "rollup_table_name",
    "rollup_function_name",
    "rollup_mapping_uuid",
    "reports_bucket",
    "capacity_report_function_name",
    "capacity_report_schedule_name",
    "api_endpoint",
    "api_id",
    "api_stage_name",
    "api_function_name",
    "api_log_group_name",
    "api_signing_key_arn",
}
API_HANDLER = "api.handler.handler"
# The api function reads readings and rollups (Query), checks a device's tenant in the registry (GetItem, on the
# registry only) and lists a tenant's devices (Query on the registry's tenant index), and derives cursor subkeys
# with its own HMAC key (GenerateMac once per container and key period; cursors are then signed and checked
# locally, so no VerifyMac); Lambda decrypts its environment with the data key. No Scan, no write, no other key.
API_ACTIONS = {
    "dynamodb:Query": (
        "module.telemetry_table.table_arn",
        "module.rollup_table.table_arn",
        "module.device_registry.tenant_index_arn",  # GET /devices: the tenant index, never the registry table
    ),
    "dynamodb:GetItem": "module.device_registry.table_arn",  # the registry only: is this device the caller's?
    "kms:GenerateMac": "module.api_signing_key.key_arn",
    "kms:Decrypt": "module.kms_key.key_arn",
}
API_ENV_VARS = {
    "TABLE_NAME",
    "ROLLUP_TABLE_NAME",
    "REGISTRY_TABLE_NAME",
    "REGISTRY_TENANT_INDEX",
    "CURSOR_KEY_ARN",
    "CURSOR_TTL_SECONDS",
    "READINGS_MAX_AGE_SECONDS",
    "LOG_LEVEL",
    "ENVIRONMENT",
}


def tf_files(under: Path = TERRAFORM_DIR) -> list[Path]:
    return sorted(p for p in under.rglob("*.tf") if ".terraform" not in p.parts)


@cache
def parse(path: Path) -> dict:
    with path.open() as fh:
        return hcl2.load(fh, serialization_options=OPTIONS)


def blocks(kind: str, under: Path = TERRAFORM_DIR) -> list[tuple[Path, str, dict]]:
    """(file, name, body) of every top-level block of `kind` (module, variable, output, ...)."""
    found = []
    for path in tf_files(under):
        for entry in parse(path).get(kind, []):
            for name, body in entry.items():
                found.append((path, name, body))
    return found


def resources(rtype: str, under: Path = TERRAFORM_DIR) -> list[tuple[Path, str, dict]]:
    """(file, name, body) of every `resource "rtype" "name"`."""
    found = []
    for path in tf_files(under):
        for entry in parse(path).get("resource", []):
            for name, body in entry.get(rtype, {}).items():
                found.append((path, name, body))
    return found


def first(value) -> dict:
    """A nested block as parsed (a list of one dict), or {} when absent."""
    if isinstance(value, list):
        return value[0] if value else {}
    return value or {}


def var_name(expr) -> str | None:
    """`x` when `expr` is exactly `${var.x}`."""
    m = re.fullmatch(r"\$\{var\.([A-Za-z0-9_]+)\}", str(expr))
    return m.group(1) if m else None


def variable_of(path: Path, name: str) -> dict:
    for _, vname, body in blocks("variable", path.parent):
        if vname == name:
            return body
    raise AssertionError(f"{path.parent.name} uses var.{name} but declares no such variable")


def validation_conditions(var_body: dict) -> list[str]:
    return [str(v.get("condition", "")) for v in var_body.get("validation", [])]


def label(path: Path, name: str) -> str:
    return f"{path.relative_to(TERRAFORM_DIR)}:{name}"


# --- the Kinesis consumer -------------------------------------------------------------------------------


def kinesis_mappings() -> list[tuple[Path, str, dict]]:
    return [
        (p, n, b)
        for p, n, b in resources("aws_lambda_event_source_mapping")
        if "kinesis" in str(b.get("event_source_arn", "")).lower() or "stream" in str(b.get("event_source_arn", ""))
    ]


def test_kinesis_mappings_bisect_and_report_item_failures():
    mappings = kinesis_mappings()
    assert mappings, "no Kinesis event source mapping found"
    for path, name, body in mappings:
        assert body.get("bisect_batch_on_function_error") is True, (
            f"{label(path, name)}: bisect_batch_on_function_error must be true"
        )
        assert "ReportBatchItemFailures" in body.get("function_response_types", []), (
            f"{label(path, name)}: needs ReportBatchItemFailures"
        )
        assert body.get("starting_position") == "TRIM_HORIZON", (
            f"{label(path, name)}: must start at TRIM_HORIZON (no reading skipped)"
        )
        on_failure = first(first(body.get("destination_config")).get("on_failure"))
        assert on_failure.get("destination_arn"), f"{label(path, name)}: needs destination_config.on_failure"


@pytest.mark.parametrize("attribute, lowest", [("maximum_retry_attempts", 0), ("maximum_record_age_in_seconds", 60)])
def test_kinesis_mappings_give_up_on_a_record_after_finite_retries_and_age(attribute: str, lowest: int):
    mappings = kinesis_mappings()
    assert mappings, "no Kinesis event source mapping found"
    for path, name, body in mappings:
        value = body.get(attribute)
        assert value is not None, (
            f"{label(path, name)}: {attribute} unset means -1 (forever): a poison record blocks its shard"
        )
        if isinstance(value, (int, float)):
            assert value >= lowest, f"{label(path, name)}: {attribute} = {value}"
            continue
        var = var_name(value)
        assert var, f"{label(path, name)}: {attribute} must be a literal or a validated variable, not {value}"
        conditions = validation_conditions(variable_of(path, var))
        assert any(f"var.{var} >= {lowest}" in c for c in conditions), (
            f"variable {var} ({path.parent.name}) must be validated >= {lowest} (so -1, forever, is refused): "
            f"{conditions}"
        )


def test_consumer_variables_forbid_infinite_retries_and_age_in_the_composition():
    """The pipeline passes its own variables down: they must refuse -1 as well, with a message before the module's."""
    pipeline_vars = {name: body for _, name, body in blocks("variable", MODULES_DIR / "pipeline")}
    for var, lowest in (("ingest_maximum_retry_attempts", 0), ("ingest_maximum_record_age_seconds", 60)):
        assert var in pipeline_vars, f"pipeline has no variable {var}"
        assert any(f"var.{var} >= {lowest}" in c for c in validation_conditions(pipeline_vars[var])), (
            f"pipeline variable {var} not validated"
        )


# --- encryption at rest with the customer-managed key ---------------------------------------------------


def test_every_queue_is_encrypted_with_the_key():
    queues = resources("aws_sqs_queue")
    assert queues, "no aws_sqs_queue found"
    for path, name, body in queues:
        assert body.get("kms_master_key_id"), f"{label(path, name)}: kms_master_key_id missing"


def test_every_stream_is_kms_encrypted_and_leaves_shard_count_to_opsctl():
    streams = resources("aws_kinesis_stream")
    assert streams, "no aws_kinesis_stream found"
    for path, name, body in streams:
        assert body.get("encryption_type") == "KMS" and body.get("kms_key_id"), (
            f"{label(path, name)}: needs encryption_type KMS and kms_key_id"
        )
        ignored = first(body.get("lifecycle")).get("ignore_changes", [])
        assert "shard_count" in ignored, (
            f"{label(path, name)}: lifecycle.ignore_changes must hold shard_count (opsctl reshard owns it)"
        )


def test_every_table_has_key_encryption_and_point_in_time_recovery():
    tables = resources("aws_dynamodb_table")
    assert tables, "no aws_dynamodb_table found"
    for path, name, body in tables:
        sse = first(body.get("server_side_encryption"))
        assert sse.get("enabled") is True and sse.get("kms_key_arn"), f"{label(path, name)}: SSE with kms_key_arn"
        assert first(body.get("point_in_time_recovery")).get("enabled") is True, f"{label(path, name)}: PITR off"
        if path.parent.name == "device_registry":  # a device's entry never expires: revoked devices stay listed
            assert not body.get("ttl"), f"{label(path, name)}: the registry must not expire devices"
            continue
        assert first(body.get("ttl")).get("attribute_name") == "expires_at", (
            f"{label(path, name)}: TTL must be on expires_at (epoch seconds)"
        )


def test_every_log_group_has_the_key_and_a_retention():
    groups = resources("aws_cloudwatch_log_group")
    assert groups, "no aws_cloudwatch_log_group found"
    for path, name, body in groups:
        assert body.get("kms_key_id"), f"{label(path, name)}: kms_key_id missing"
        assert body.get("retention_in_days") not in (None, 0), (
            f"{label(path, name)}: retention_in_days missing (logs kept forever)"
        )


# --- module and variable hygiene ------------------------------------------------------------------------


def test_every_variable_has_a_type_and_a_description():
    variables = blocks("variable")
    assert len(variables) > 20, f"only {len(variables)} variables found: is the parser reading terraform/?"
    missing = [label(p, n) for p, n, b in variables if not b.get("type") or not str(b.get("description", "")).strip()]
    assert not missing, f"variables without type or description: {missing}"


def test_every_module_has_the_five_files():
    modules = sorted(p for p in MODULES_DIR.iterdir() if p.is_dir())
    assert {m.name for m in modules} >= {
        "kms_key",
        "ingest_stream",
        "telemetry_table",
        "python_function",
        "kinesis_consumer",
        "private_bucket",
        "sqs_consumer",
        "pipeline",
    }
    missing = [f"{m.name}/{f}" for m in modules for f in MODULE_FILES if not (m / f).is_file()]
    assert not missing, f"modules missing files: {missing}"


@pytest.mark.parametrize("env", ENVS)
def test_every_env_exports_the_contract_outputs(env: str):
    names = {n for _, n, _ in blocks("output", ENVS_DIR / env)}
    assert names >= CONTRACT_OUTPUTS, f"envs/{env} lacks outputs {sorted(CONTRACT_OUTPUTS - names)}"
    assert {"lambda_zip_path", "ingest_shard_count", "region"} <= {n for _, n, _ in blocks("variable", ENVS_DIR / env)}


# --- the ingest function: exactly the architecture's permissions and environment --------------------------


def function_call(handler: str) -> dict:
    calls = [b for _, _, b in blocks("module", MODULES_DIR / "pipeline") if b.get("handler") == handler]
    assert len(calls) == 1, f"expected one module call with handler {handler} in the pipeline, found {len(calls)}"
    return calls[0]


def ingest_function_call() -> dict:
    return function_call(INGEST_HANDLER)


def granted_actions(statements: list[dict]) -> dict[str, set[str]]:
    """{action: resources} of Allow statements {sid, actions, resources}, refusing any wildcard."""
    granted: dict[str, set[str]] = {}
    for s in statements:
        for action in s["actions"]:
            assert "*" not in action, f"wildcard action {action!r} in statement {s['sid']}"
            granted.setdefault(action, set()).update(s["resources"])
        for resource in s["resources"]:
            assert resource != "*" and not resource.endswith(":*"), (
                f"wildcard resource {resource!r} in statement {s['sid']}"
            )
    return granted


@pytest.mark.parametrize("handler, expected", [(INGEST_HANDLER, INGEST_ACTIONS), (ROLLUP_HANDLER, ROLLUP_ACTIONS)])
def test_function_policy_grants_only_what_the_architecture_lists(handler: str, expected: dict[str, str]):
    statements = function_call(handler).get("policy_statements", [])
    assert statements, f"{handler} has no policy_statements"
    granted = granted_actions(statements)
    assert set(granted) == set(expected), (
        f"{handler} actions {sorted(granted)} differ from the architecture's {sorted(expected)}"
    )
    for action, resource in expected.items():
        wanted = {f"${{{r}}}" for r in ((resource,) if isinstance(resource, str) else resource)}
        assert granted[action] == wanted, f"{action} must be on {resource} only, not {granted[action]}"


def test_ingest_may_only_send_to_the_rollup_queue():
    """Of SQS, ingest may only SendMessage (SendMessageBatch's permission), and only to the rollup queue."""
    granted = granted_actions(ingest_function_call()["policy_statements"])
    assert {a for a in granted if a.startswith("sqs:")} == {"sqs:SendMessage"}
    assert granted["sqs:SendMessage"] == {"${module.rollup_consumer.queue_arn}"}


def test_rollup_environment_is_the_architectures():
    env = function_call(ROLLUP_HANDLER).get("environment_variables", {})
    assert set(env) == ROLLUP_ENV_VARS, (
        f"rollup env vars {sorted(env)} differ from the architecture's {sorted(ROLLUP_ENV_VARS)}"
    )
    assert env["READINGS_TABLE_NAME"] == "${module.telemetry_table.table_name}"
    assert env["ROLLUP_TABLE_NAME"] == "${module.rollup_table.table_name}"


def test_ingest_environment_is_the_architectures():
    call = ingest_function_call()
    env = call.get("environment_variables", {})
    assert set(env) == INGEST_ENV_VARS, (
        f"ingest env vars {sorted(env)} differ from the architecture's {sorted(INGEST_ENV_VARS)}"
    )
    assert env["METRICS_NAMESPACE"] == "TelemetryPipeline"


def test_function_module_adds_only_its_own_log_group_and_xray():
    """The module's own statements: logs on its log group (never "*"), X-Ray (which only accepts "*")."""
    main = parse(MODULES_DIR / "python_function" / "main.tf")
    own = first(main.get("locals")).get("own_statements", [])
    assert own, "python_function has no own_statements"
    for s in own:
        if any(a.startswith("logs:") for a in s["actions"]):
            assert set(s["actions"]) == {"logs:CreateLogStream", "logs:PutLogEvents"} and "*" not in s["resources"]
        else:
            assert set(s["actions"]) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


# --- the sandbox: nothing moto cannot serve -----------------------------------------------------------------


def test_local_env_never_claims_auto_scaling_the_sandbox_cannot_do():
    """moto stores scaling policies and never evaluates them, so envs/local keeps auto scaling off (a fixed
    capacity is what the sandbox really has); its scalable targets (min = max) do apply there."""
    assert not resources("aws_appautoscaling_target", ENVS_DIR / "local")
    calls = [b for _, n, b in blocks("module", ENVS_DIR / "local") if n == "pipeline"]
    assert len(calls) == 1, "envs/local must call the pipeline module once"
    assert calls[0].get("table_autoscaling_enabled") is False, (
        "envs/local must call the pipeline with table_autoscaling_enabled = false"
    )
    # ...and inside the table module: targets whenever PROVISIONED, policies only when auto scaled.
    (target,) = [b for _, _, b in resources("aws_appautoscaling_target", MODULES_DIR / "telemetry_table")]
    assert "local.provisioned" in str(target["for_each"])
    (policy,) = [b for _, _, b in resources("aws_appautoscaling_policy", MODULES_DIR / "telemetry_table")]
    assert "local.autoscaled" in str(policy["for_each"])


def test_redrive_allow_policy_exists_only_behind_a_switch_that_only_the_sandbox_turns_off():
    """moto does not know RedriveAllowPolicy: the provider would wait for it forever (docs/moto-gaps.md §Terraform
    against moto). So it is a separate, switchable resource (never the inline attribute), off in envs/local and on in
    dev and prod."""
    assert not [label(p, n) for p, n, b in resources("aws_sqs_queue") if "redrive_allow_policy" in b]
    allow = resources("aws_sqs_queue_redrive_allow_policy")
    assert allow, "the rollup DLQ needs a redrive-allow policy (only its source queue may use it)"
    for path, name, body in allow:
        assert path.parent == SQS_CONSUMER and body.get("count") == "${var.redrive_allow_policy_enabled ? 1 : 0}", (
            label(path, name)
        )
        assert "byQueue" in str(body.get("redrive_allow_policy")) and "aws_sqs_queue.this.arn" in str(
            body.get("redrive_allow_policy")
        )
    consumer = next(b for _, n, b in blocks("module", MODULES_DIR / "pipeline") if n == "rollup_consumer")
    assert consumer["redrive_allow_policy_enabled"] == "${var.rollup_redrive_allow_policy_enabled}"
    for env in ENVS:
        (call,) = [b for _, n, b in blocks("module", ENVS_DIR / env) if n == "pipeline"]
        assert call.get("rollup_redrive_allow_policy_enabled") is (env != "local"), (
            f"envs/{env}: rollup_redrive_allow_policy_enabled must be {env != 'local'}"
        )


def test_only_the_sandbox_drops_the_tls_only_bucket_policy():
    """moto serves plain HTTP and enforces bucket-policy denies, so envs/local turns the TLS-only policy off;
    every real environment keeps the module's default (on)."""
    pipeline_vars = {n: b for _, n, b in blocks("variable", MODULES_DIR / "pipeline")}
    assert pipeline_vars["quarantine_deny_insecure_transport"].get("default") is True
    policies = resources("aws_s3_bucket_policy", MODULES_DIR / "private_bucket")
    assert policies and all("SecureTransport" in str(b.get("policy")) for _, _, b in policies)
    for env in ENVS:
        (call,) = [b for _, n, b in blocks("module", ENVS_DIR / env) if n == "pipeline"]
        if env != "local":
            assert call.get("quarantine_deny_insecure_transport", True) is True, (
                f"envs/{env} must keep the TLS-only bucket policy"
            )


def test_every_topic_is_encrypted_with_the_key_and_alarms_may_only_publish_from_this_account():
    topics = resources("aws_sns_topic")
    assert topics, "the alerts topic is missing"
    for path, name, body in topics:
        assert "kms_key_arn" in str(body.get("kms_master_key_id", "")), (
            f"{label(path, name)} is not encrypted with the customer-managed key"
        )
    for path, name, _ in resources("aws_sns_topic_policy"):
        statements = re.findall(r"Principal\s*=\s*\{\s*Service\s*=\s*\"cloudwatch\.amazonaws\.com\"", path.read_text())
        assert statements and "aws:SourceAccount" in path.read_text(), (
            f"{label(path, name)} lets CloudWatch of any account publish"
        )
    key_policy = (MODULES_DIR / "kms_key" / "main.tf").read_text()
    assert "CloudWatchAlarmsNotifyEncryptedTopics" in key_policy, (
        "alarms cannot notify a topic encrypted with a key CloudWatch may not use"
    )


# --- the log-alert pipeline -------------------------------------------------------------------------------

ALERT_HANDLER = "alert.handler.handler"
# What functions/alert calls (docs/architecture.md), on what.
ALERT_ACTIONS = {
    "sns:Publish": "var.alerts_topic_arn",
    "kms:GenerateDataKey": "var.kms_key_arn",
    "kms:Decrypt": "var.kms_key_arn",
}


def test_alert_function_may_only_publish_to_the_topic_and_use_the_key():
    calls = [b for _, _, b in blocks("module", MODULES_DIR / "log_alerts") if b.get("handler") == ALERT_HANDLER]
    assert len(calls) == 1, f"expected one module call with handler {ALERT_HANDLER} in log_alerts"
    granted: dict[str, set[str]] = {}
    for s in calls[0]["policy_statements"]:
        for action in s["actions"]:
            granted.setdefault(action, set()).update(s["resources"])
    assert set(granted) == set(ALERT_ACTIONS), f"alert actions {sorted(granted)} differ from {sorted(ALERT_ACTIONS)}"
    for action, resource in ALERT_ACTIONS.items():
        assert granted[action] == {f"${{{resource}}}"}, f"{action} must be on {resource} only, not {granted[action]}"
    assert set(calls[0]["environment_variables"]) == {"ALERTS_TOPIC_ARN", "ENVIRONMENT", "LOG_LEVEL"}


def test_cloudwatch_logs_may_only_put_records_on_the_alert_stream_for_this_pipelines_groups():
    text = (MODULES_DIR / "log_alerts" / "main.tf").read_text()
    (policy,) = [b for _, n, b in resources("aws_iam_role_policy", MODULES_DIR / "log_alerts") if n == "logs"]
    statements = re.findall(r"Action\s*=\s*\[([^\]]*)\],\s*Resource\s*=\s*\[([^\]]*)\]", str(policy["policy"]))
    assert statements == [
        ('"kinesis:PutRecord"', "module.stream.stream_arn"),
        ('"kms:GenerateDataKey"', "var.kms_key_arn"),
    ], statements
    assert (
        '"aws:SourceArn" = '
        '"arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name_prefix}-*"'
        in text
    )


def test_every_function_log_group_but_the_alert_functions_own_is_subscribed():
    """Every python_function module call in the pipeline has its log group in log_alerts' log_group_names."""
    pipeline = parse(MODULES_DIR / "pipeline" / "main.tf")
    functions = [
        n for entry in pipeline.get("module", []) for n, b in entry.items() if "python_function" in str(b.get("source"))
    ]
    (log_alerts,) = [b for entry in pipeline.get("module", []) for n, b in entry.items() if n == "log_alerts"]
    subscribed = {str(v) for v in log_alerts["log_group_names"].values()}
    assert functions and subscribed == {f"${{module.{f}.log_group_name}}" for f in functions}, (functions, subscribed)


# --- the rollup queue and its consumer ------------------------------------------------------------------


def sqs_mappings() -> list[tuple[Path, str, dict]]:
    return [
        (p, n, b)
        for p, n, b in resources("aws_lambda_event_source_mapping")
        if "aws_sqs_queue" in str(b.get("event_source_arn", ""))
    ]


def pipeline_default(name: str):
    (body,) = [b for _, n, b in blocks("variable", MODULES_DIR / "pipeline") if n == name]
    return body.get("default")


def effective(env: str, name: str):
    """The value envs/<env> gives pipeline variable `name` (a literal), else the pipeline's default."""
    (call,) = [b for _, n, b in blocks("module", ENVS_DIR / env) if n == "pipeline"]
    value = call.get(name, pipeline_default(name))
    assert isinstance(value, (int, float)), f"envs/{env}: {name} = {value!r} must be a literal number for this check"
    return value


def test_visibility_timeout_is_checked_against_six_times_the_real_worker_timeout():
    (queue,) = [b for _, n, b in resources("aws_sqs_queue", SQS_CONSUMER) if n == "this"]
    conditions = [str(p.get("condition")) for p in first(queue.get("lifecycle")).get("precondition", [])]
    assert (
        f"${{var.visibility_timeout_seconds >= {VISIBILITY_TIMEOUT_FACTOR} * var.function_timeout_seconds}}"
        in conditions
    )
    # The module is told the deployed function's timeout, not a copy of a variable that could drift from it.
    consumer = next(b for _, n, b in blocks("module", MODULES_DIR / "pipeline") if n == "rollup_consumer")
    assert consumer["function_timeout_seconds"] == "${module.rollup_function.timeout_seconds}"
    rollup = function_call(ROLLUP_HANDLER)
    assert rollup["timeout_seconds"] == "${var.rollup_timeout_seconds}"
    assert consumer["visibility_timeout_seconds"] == "${var.rollup_queue_visibility_timeout_seconds}"


@pytest.mark.parametrize("env", ENVS)
def test_every_env_keeps_the_visibility_timeout_at_least_six_times_the_worker_timeout(env: str):
    timeout = effective(env, "rollup_timeout_seconds")
    visibility = effective(env, "rollup_queue_visibility_timeout_seconds")
    assert visibility >= VISIBILITY_TIMEOUT_FACTOR * timeout, (
        f"envs/{env}: {visibility} s < {VISIBILITY_TIMEOUT_FACTOR} x {timeout} s"
    )
    assert pipeline_default("rollup_queue_visibility_timeout_seconds") >= VISIBILITY_TIMEOUT_FACTOR * pipeline_default(
        "rollup_timeout_seconds"
    )


def test_sqs_mappings_report_item_failures_and_bound_their_concurrency():
    mappings = sqs_mappings()
    assert mappings, "no SQS event source mapping found"
    for path, name, body in mappings:
        assert body.get("function_response_types") == ["ReportBatchItemFailures"], (
            f"{label(path, name)}: needs ReportBatchItemFailures"
        )
        for attribute in ("batch_size", "maximum_batching_window_in_seconds"):
            assert body.get(attribute) is not None, f"{label(path, name)}: {attribute} must be set"
        concurrency = first(body.get("scaling_config")).get("maximum_concurrency")
        var = var_name(concurrency)
        assert var, f"{label(path, name)}: scaling_config.maximum_concurrency must be a validated variable"
        conditions = validation_conditions(variable_of(path, var))
        assert any(f"var.{var} >= 2" in c and f"var.{var} <= 1000" in c for c in conditions), conditions
    pipeline_vars = {n: b for _, n, b in blocks("variable", MODULES_DIR / "pipeline")}
    assert any(
        "var.rollup_maximum_concurrency >= 2" in c and "<= 1000" in c
        for c in validation_conditions(pipeline_vars["rollup_maximum_concurrency"])
    )


def test_the_dlq_keeps_messages_14_days_and_the_redrive_policy_is_its_own_resource():
    queues = {n: b for _, n, b in resources("aws_sqs_queue", SQS_CONSUMER)}
    assert queues["dlq"].get("message_retention_seconds") == 14 * 86_400
    assert (
        "redrive_policy" not in queues["this"] and "redrive_policy" not in queues["dlq"]
    )  # no cycle, no inline policy
    assert "redrive_policy" in first(queues["this"].get("lifecycle")).get("ignore_changes", [])
    (redrive,) = [b for _, _, b in resources("aws_sqs_queue_redrive_policy", SQS_CONSUMER)]
    assert redrive["queue_url"] == "${aws_sqs_queue.this.id}"
    assert "deadLetterTargetArn = aws_sqs_queue.dlq.arn" in redrive["redrive_policy"]
    assert "maxReceiveCount = var.max_receive_count" in redrive["redrive_policy"]


def test_the_worker_may_only_consume_its_own_queue_and_decrypt_with_the_key():
    (policy,) = [b for _, n, b in resources("aws_iam_role_policy", SQS_CONSUMER) if n == "poller"]
    text = str(policy["policy"])
    statements = re.findall(r"Action = \[([^\]]*)\],?\s*Resource = \[([^\]]*)\]", text)
    granted = {}
    for actions, res in statements:
        for action in re.findall(r'"([^"]+)"', actions):
            granted.setdefault(action, set()).add(res.strip())
    assert granted == {
        **{a: {"aws_sqs_queue.this.arn"} for a in SQS_POLLER_ACTIONS},
        "kms:Decrypt": {"var.kms_key_arn"},
    }, granted
    assert policy["role"] == "${var.function_role_name}"


def test_the_module_rules_hold_under_terraform_test(tmp_path: Path, plugin_dir: str | None):
    """`terraform test` of sqs_consumer with a mocked provider (offline, nothing created): 5x the timeout,
    concurrency 1 or 1001, a batch of 11 without a window are refused; 6x passes; the redrive-allow switch works;
    the DLQ keeps 14 days. Run on a copy, so the lock file init writes never lands in the repository."""
    module = tmp_path / "sqs_consumer"
    shutil.copytree(SQS_CONSUMER, module, ignore=shutil.ignore_patterns(".terraform*"))
    env = {**tf.cli_environment(), "TF_DATA_DIR": str(tmp_path / "tfdata")}
    init = [tf.terraform_binary(), "init", "-backend=false", "-input=false", "-no-color"]
    if plugin_dir:
        init.append(f"-plugin-dir={plugin_dir}")
    proc = subprocess.run(init, cwd=module, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"terraform init of sqs_consumer failed:\n{proc.stderr}{proc.stdout}"
    proc = subprocess.run(
        [tf.terraform_binary(), "test", "-no-color"], cwd=module, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 passed, 0 failed" in proc.stdout


# --- the read API -------------------------------------------------------------------------------------------


def test_api_function_may_only_query_and_get_readings_and_use_its_own_mac_key():
    test_function_policy_grants_only_what_the_architecture_lists(API_HANDLER, API_ACTIONS)


def test_api_environment_is_the_architectures_and_names_the_key_not_a_secret():
    env = function_call(API_HANDLER).get("environment_variables", {})
    assert set(env) == API_ENV_VARS, f"api env vars {sorted(env)} differ from the architecture's {sorted(API_ENV_VARS)}"
    assert env["CURSOR_KEY_ARN"] == "${module.api_signing_key.key_arn}"


def test_cursor_key_is_an_hmac_key_that_never_leaves_kms():
    (key,) = [b for _, _, b in resources("aws_kms_key", MODULES_DIR / "signing_key")]
    assert key["customer_master_key_spec"] == "HMAC_256" and key["key_usage"] == "GENERATE_VERIFY_MAC"
    # Nothing anywhere may carry key material: only the ARN leaves the module, and no random/secret resource exists.
    outputs = {n: str(b["value"]) for _, n, b in blocks("output", MODULES_DIR / "signing_key")}
    assert set(outputs) == {"key_arn", "key_id", "alias_name"}
    for path in tf_files():
        text = path.read_text()
        assert "random_password" not in text and "aws_secretsmanager_secret_version" not in text, path


def test_api_is_an_http_api_with_a_lambda_proxy_payload_v2_on_every_route():
    (api,) = [b for _, _, b in resources("aws_apigatewayv2_api", MODULES_DIR / "http_api")]
    assert api["protocol_type"] == "HTTP"
    assert any("cors_configuration" in d for d in api.get("dynamic", [])), (
        "CORS belongs in Terraform, not in the handler"
    )
    (integration,) = [b for _, _, b in resources("aws_apigatewayv2_integration", MODULES_DIR / "http_api")]
    assert integration["integration_type"] == "AWS_PROXY" and integration["payload_format_version"] == "2.0"
    routes = dict((n, b) for _, n, b in resources("aws_apigatewayv2_route", MODULES_DIR / "http_api"))
    assert "var.routes" in str(routes["this"]["for_each"]) or "local.route_keys" in str(routes["this"]["for_each"])
    assert all("aws_apigatewayv2_integration.function.id" in str(b["target"]) for b in routes.values())


def test_stage_throttles_by_variables_and_logs_json_to_an_encrypted_group():
    (stage,) = [b for _, _, b in resources("aws_apigatewayv2_stage", MODULES_DIR / "http_api")]
    settings = first(stage["default_route_settings"])
    assert var_name(settings["throttling_burst_limit"]) == "throttling_burst_limit"
    assert var_name(settings["throttling_rate_limit"]) == "throttling_rate_limit"
    module_vars = {n: b for _, n, b in blocks("variable", MODULES_DIR / "http_api")}
    assert any("<= 5000" in c for c in validation_conditions(module_vars["throttling_burst_limit"]))
    assert any("<= 10000" in c for c in validation_conditions(module_vars["throttling_rate_limit"]))
    logs = first(stage["access_log_settings"])
    assert "aws_cloudwatch_log_group.access.arn" in str(logs["destination_arn"]) and "jsonencode" in str(logs["format"])
    (group,) = [
        b
        for n, b in ((n, b) for _, n, b in resources("aws_cloudwatch_log_group", MODULES_DIR / "http_api"))
        if n == "access"
    ]
    assert group.get("kms_key_id")


def test_api_routes_are_one_line_each_in_the_pipeline_and_match_the_route_table():
    import sys

    from opsctl.core.project import FUNCTIONS_DIR

    sys.path.insert(0, str(FUNCTIONS_DIR))
    from api.routes import ROUTES

    pipeline_vars = {n: b for _, n, b in blocks("variable", MODULES_DIR / "pipeline")}
    routes = pipeline_vars["api_routes"]["default"]
    assert set(routes) <= set(ROUTES), f"Terraform routes without a handler entry: {sorted(set(routes) - set(ROUTES))}"
    (call,) = [b for _, n, b in blocks("module", MODULES_DIR / "pipeline") if n == "http_api"]
    assert call["routes"] == "${var.api_routes}"


@pytest.mark.parametrize("env", ENVS)
def test_jwt_authorizer_is_on_in_every_environment_the_sandbox_included(env: str):
    (call,) = [b for _, n, b in blocks("module", ENVS_DIR / env) if n == "pipeline"]
    assert call.get("api_jwt_auth_enabled") is True, f"envs/{env}: api_jwt_auth_enabled"
    assert call.get("api_admin_password_auth_enabled", False) is (env == "local"), (
        f"envs/{env}: only the sandbox signs users in with ADMIN_USER_PASSWORD_AUTH"
    )
    pipeline_vars = {n: b for _, n, b in blocks("variable", MODULES_DIR / "pipeline")}
    assert pipeline_vars["api_jwt_auth_enabled"]["default"] is True  # forgetting it in a new env means auth, not none
