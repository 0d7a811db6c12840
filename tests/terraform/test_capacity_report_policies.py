"""The scheduled capacity report's Terraform: its function may make exactly the calls functions/capacity_report
makes, each on its own resource where AWS allows one; the schedule's role may only invoke that function; the
reports bucket is encrypted with the key, versioned and expires its objects; the schedule's input keeps
Scheduler's placeholders readable (no jsonencode, which escapes < and >)."""

from __future__ import annotations

import re

from .test_policies import ENVS, ENVS_DIR, MODULES_DIR, blocks, first, resources

HANDLER = "capacity_report.handler.handler"
# What functions/capacity_report calls (handler.py's docstring lists the same), and on what.
ACTIONS = {
    "dynamodb:DescribeTable": ("module.telemetry_table.table_arn", "module.rollup_table.table_arn"),
    "kinesis:DescribeStreamSummary": "module.ingest_stream.stream_arn",
    "kinesis:ListShards": "module.ingest_stream.stream_arn",
    "lambda:GetFunctionConcurrency": "module.ingest_function.function_arn",
    "sqs:GetQueueAttributes": (
        "module.ingest_consumer.failure_queue_arn",
        "module.rollup_consumer.queue_arn",
        "module.rollup_consumer.dlq_arn",
    ),
    "s3:PutObject": "module.reports_bucket.objects_arn",
    "sns:Publish": "module.alerts_topic.topic_arn",
    "kms:GenerateDataKey": "module.kms_key.key_arn",
    "kms:Decrypt": "module.kms_key.key_arn",
}
# AWS has no resource-level permissions for these: "*" is the only resource they accept.
NO_RESOURCE_LEVEL = {
    "cloudwatch:GetMetricData",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "lambda:ListEventSourceMappings",
    "lambda:GetAccountSettings",
}


def _function_call() -> dict:
    (call,) = [b for _, _, b in blocks("module", MODULES_DIR / "pipeline") if b.get("handler") == HANDLER]
    return call


def test_report_function_grants_exactly_the_calls_it_makes():
    granted: dict[str, set[str]] = {}
    for s in _function_call()["policy_statements"]:
        for action in s["actions"]:
            granted.setdefault(action, set()).update(s["resources"])
    assert set(granted) == set(ACTIONS) | NO_RESOURCE_LEVEL
    for action, resource in ACTIONS.items():
        wanted = {f"${{{r}}}" for r in ((resource,) if isinstance(resource, str) else resource)}
        assert granted[action] == wanted, f"{action} must be on {resource} only, not {granted[action]}"
    for action in NO_RESOURCE_LEVEL:
        assert granted[action] == {"*"}


def test_handler_docstring_and_policy_name_the_same_calls():
    from capacity_report import handler

    named = set(
        re.findall(
            r"(dynamodb|application-autoscaling|cloudwatch|kinesis|lambda|sqs|s3|sns):([A-Za-z/]+)", handler.__doc__
        )
    )
    listed = set()
    for service, actions in named:
        listed |= {f"{service}:{a}" for a in actions.split("/")}
    assert listed == (set(ACTIONS) | NO_RESOURCE_LEVEL) - {"kms:GenerateDataKey", "kms:Decrypt"}


def test_schedule_role_may_only_invoke_the_report_function():
    text = (MODULES_DIR / "lambda_schedule" / "main.tf").read_text()
    (policy,) = [b for _, _, b in resources("aws_iam_role_policy", MODULES_DIR / "lambda_schedule")]
    # Invoke the function; dead-letter to its own queue (and encrypt that with the key); nothing else.
    assert re.findall(r"Action\s*=\s*\[([^\]]*)\]", text) == [
        '"lambda:InvokeFunction"',
        '"sqs:SendMessage"',
        '"kms:GenerateDataKey", "kms:Decrypt"',
    ]
    assert re.findall(r"Resource\s*=\s*\[([^\]]*)\]", text)[:3] == [
        "var.function_arn",
        "aws_sqs_queue.dead_letter.arn",
        "var.kms_key_arn",
    ]
    assert "scheduler.amazonaws.com" in text
    (call,) = [
        b
        for n, b in ((n, b) for _, n, b in blocks("module", MODULES_DIR / "pipeline"))
        if n == "capacity_report_schedule"
    ]
    assert call["function_arn"] == "${module.capacity_report_function.function_arn}"
    assert policy


def test_schedule_input_is_a_literal_with_schedulers_placeholders():
    (sched,) = [b for _, _, b in resources("aws_scheduler_schedule")]
    target_input = first(sched["target"])["input"]
    assert "jsonencode" not in target_input and "<aws.scheduler.scheduled-time>" in target_input


def test_reports_bucket_is_encrypted_versioned_and_expires():
    under = MODULES_DIR / "private_bucket"
    (sse,) = [b for _, _, b in resources("aws_s3_bucket_server_side_encryption_configuration", under)]
    rule = first(first(sse["rule"])["apply_server_side_encryption_by_default"])
    assert rule["sse_algorithm"] == "aws:kms" and "kms_key_arn" in rule["kms_master_key_id"]
    (ver,) = [b for _, _, b in resources("aws_s3_bucket_versioning", under)]
    assert first(ver["versioning_configuration"])["status"] == "Enabled"
    (life,) = [b for _, _, b in resources("aws_s3_bucket_lifecycle_configuration", under)]
    assert any("expiration" in r and "noncurrent_version_expiration" in r for r in life["rule"])
    (pab,) = [b for _, _, b in resources("aws_s3_bucket_public_access_block", under)]
    assert all(
        pab[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )


def test_every_env_runs_the_report_on_a_schedule_by_default():
    variables = {n: b for _, n, b in blocks("variable", MODULES_DIR / "pipeline")}
    assert variables["capacity_report_schedule_enabled"]["default"] is True
    assert variables["capacity_report_schedule"]["default"] == "cron(0 6 * * ? *)"  # daily, 06:00 UTC
    for env in ENVS:
        (call,) = [b for _, n, b in blocks("module", ENVS_DIR / env) if n == "pipeline"]
        if env == "local":
            assert call.get("table_autoscaling_enabled") is False  # moto never evaluates scaling policies
