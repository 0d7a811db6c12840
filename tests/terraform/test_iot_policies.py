"""Policy checks on the IoT Core front door and the device registry: a device may connect only as its own
thing and publish only to its own topic (policy variables), the rule takes identity from the topic and may only
PutRecord on the ingest stream, what it cannot deliver is kept encrypted, and the registry is encrypted."""

from __future__ import annotations

import re

from tests.terraform.test_policies import ENVS, ENVS_DIR, MODULES_DIR, blocks, first, parse, resources

IOT = MODULES_DIR / "iot_ingress"
REGISTRY = MODULES_DIR / "device_registry"


def _one(rtype: str, under=IOT) -> dict:
    (body,) = [b for _, _, b in resources(rtype, under)]
    return body


def _policy_text(rtype: str, name: str) -> str:
    bodies = [b for _, n, b in resources(rtype, IOT) if n == name]
    assert bodies, f"{rtype}.{name} missing"
    return str(bodies[0]["policy"])


def test_device_policy_binds_connect_and_publish_to_the_things_own_name_and_tenant():
    text = _policy_text("aws_iot_policy", "device")
    # python-hcl2 keeps the escaped policy variables as "$${...}"; Terraform renders them as "${...}".
    assert re.search(r"client/\$?\$\{iot:Connection\.Thing\.ThingName\}", text), text
    assert re.search(
        r"topic/\$\{var\.topic_prefix\}/\$?\$\{iot:Connection\.Thing\.Attributes\[tenant\]\}"
        r"/\$?\$\{iot:Connection\.Thing\.ThingName\}/telemetry",
        text,
    ), text
    assert "iot:Connection.Thing.IsAttached" in text
    # Exactly two actions, no wildcard topic or client, nothing to subscribe or receive.
    actions = set(re.findall(r"Action\W+(iot:[A-Za-z*]+)", text))
    assert actions == {"iot:Connect", "iot:Publish"}, actions
    assert "iot:*" not in text and "topic/*" not in text and "client/*" not in text


def test_rule_takes_device_and_tenant_from_the_topic_and_partitions_by_device():
    rule = _one("aws_iot_topic_rule")
    locals_ = {}
    for entry in parse(IOT / "main.tf").get("locals", []):
        locals_.update(entry)
    sql = str(locals_["rule_sql"])
    assert rule["sql"] == "${local.rule_sql}" and rule["sql_version"] == "2016-03-23"
    assert "topic(3) AS device_id" in sql and "topic(2) AS tenant" in sql
    assert str(locals_["topic_filter"]) == "${var.topic_prefix}/+/+/telemetry"
    kinesis = first(rule["kinesis"])
    assert kinesis["partition_key"] in ("$${topic(3)}", "${topic(3)}")
    assert kinesis["stream_name"] == "${var.stream_name}"
    assert kinesis["role_arn"] == "${aws_iam_role.rule.arn}"
    error_sqs = first(first(rule["error_action"])["sqs"])
    assert error_sqs["queue_url"] == "${aws_sqs_queue.errors.id}"
    assert error_sqs["role_arn"] == "${aws_iam_role.error_action.arn}"


def test_rule_role_may_only_put_records_on_the_ingest_stream():
    text = _policy_text("aws_iam_role_policy", "rule")
    actions = set(re.findall(r"((?:kinesis|kms|sqs|s3|dynamodb|iot):[A-Za-z*]+)", text))
    assert actions == {"kinesis:PutRecord", "kms:GenerateDataKey"}, actions
    assert re.search(r"kinesis:PutRecord.*?var\.stream_arn", text, re.S), text
    assert "*" not in re.sub(r"\$\{[^}]*\}", "", text.replace("kms:GenerateDataKey", ""))


def test_error_action_role_may_only_send_to_its_encrypted_queue():
    text = _policy_text("aws_iam_role_policy", "error_action")
    actions = set(re.findall(r"((?:kinesis|kms|sqs|s3|dynamodb|iot):[A-Za-z*]+)", text))
    assert actions == {"sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"}, actions
    assert "aws_sqs_queue.errors.arn" in text
    queue = _one("aws_sqs_queue")
    assert queue["kms_master_key_id"] == "${var.kms_key_arn}" and queue["message_retention_seconds"] == 1209600


def test_roles_are_assumable_only_by_iot_of_this_account():
    (doc,) = [b for _, n, b in blocks("data", IOT) if n == "aws_iam_policy_document"]
    (assume,) = [first(doc["assume_by_iot"])]
    statement = first(assume["statement"])
    assert first(statement["principals"])["identifiers"] == ["iot.amazonaws.com"]
    condition = first(statement["condition"])
    assert condition["variable"] == "aws:SourceAccount" and condition["values"] == ["${local.account_id}"]


def test_registry_is_cmk_encrypted_with_pitr_and_a_tenant_index():
    table = _one("aws_dynamodb_table", REGISTRY)
    assert first(table["server_side_encryption"])["kms_key_arn"] == "${var.kms_key_arn}"
    assert first(table["point_in_time_recovery"])["enabled"] is True
    index = first(table["global_secondary_index"])
    assert index["hash_key"] == "tenant" and index["range_key"] == "device_id"


def test_every_env_gets_the_iot_front_door_through_the_pipeline():
    (call,) = [b for _, n, b in blocks("module", MODULES_DIR / "pipeline") if n == "iot_ingress"]
    assert call["stream_arn"] == "${module.ingest_stream.stream_arn}"
    for env in ENVS:
        outputs = {n for _, n, _ in blocks("output", ENVS_DIR / env)}
        assert {"iot_rule_name", "iot_policy_name", "device_registry_table_name"} <= outputs, env
    local_provider = (ENVS_DIR / "local" / "main.tf").read_text()
    assert re.search(r"\biot\s*=\s*var\.sandbox_endpoint", local_provider)
