"""The sandbox's IoT rules engine: the project's own rule SQL (read from the Terraform module) takes device id and
tenant from the topic, a later select item wins over the payload's field, WHERE comparisons, partition-key
templates, failures to the error action, and SQL beyond the subset refused with one line."""

from __future__ import annotations

import base64
import json
import re

import pytest

from opsctl.core.project import TERRAFORM_DIR
from opsctl.sandbox.runtime import iot

RULE_SQL = re.search(r'rule_sql\s*=\s*"(.+)"', (TERRAFORM_DIR / "modules/iot_ingress/main.tf").read_text()).group(1)
PROJECT_SQL = RULE_SQL.replace("${local.topic_filter}", "dt/+/+/telemetry")
KINESIS = [{"kinesis": {"streamName": "ingest", "partitionKey": "${topic(3)}", "roleArn": "arn:aws:iam::1:role/r"}}]
ERRORS = {"sqs": {"queueUrl": "http://x/123/errors", "useBase64": True, "roleArn": "arn:aws:iam::1:role/e"}}


def project_rule() -> iot.Rule:
    return iot.parse_rule("t_telemetry", PROJECT_SQL, sql_version="2016-03-23", actions=KINESIS, error_action=ERRORS)


def run(rule, topic, payload: bytes, fail_put: bool = False):
    puts, errors = [], []

    def put_record(stream, key, data):
        if fail_put:
            raise RuntimeError("ProvisionedThroughputExceededException")
        puts.append((stream, key, json.loads(data)))

    counts = iot.deliver([rule], topic, payload, put_record=put_record, send_error=lambda q, b: errors.append((q, b)))
    return counts, puts, errors


def test_identity_comes_from_the_topic_even_when_the_payload_claims_another_device():
    spoof = json.dumps({"device_id": "meter-2", "ts": 1, "metrics": {"temp_c": 99}}).encode()
    counts, puts, errors = run(project_rule(), "dt/acme/meter-1/telemetry", spoof)
    assert counts == {"matched": 1, "delivered": 1, "failed": 0} and errors == []
    ((stream, key, doc),) = puts
    assert stream == "ingest" and key == "meter-1"
    assert doc["device_id"] == "meter-1" and doc["tenant"] == "acme" and doc["metrics"] == {"temp_c": 99}


def test_other_topics_do_not_match():
    for topic in ("dt/acme/meter-1/status", "dt/acme/telemetry", "xx/acme/meter-1/telemetry", "dt/a/b/c/telemetry"):
        assert run(project_rule(), topic, b"{}")[0]["matched"] == 0


def test_what_the_action_cannot_deliver_goes_to_the_error_queue_with_the_payload():
    payload = json.dumps({"ts": 1, "metrics": {"t": 1}}).encode()
    counts, puts, errors = run(project_rule(), "dt/acme/meter-1/telemetry", payload, fail_put=True)
    assert counts["failed"] == 1 and puts == []
    ((queue, body),) = errors
    message = json.loads(base64.b64decode(body))
    assert queue.endswith("/errors") and message["ruleName"] == "t_telemetry"
    assert base64.b64decode(message["base64OriginalPayload"]) == payload
    assert message["failures"][0]["failedAction"] == "KinesisAction"
    counts, puts, errors = run(project_rule(), "dt/acme/meter-1/telemetry", b"\xff not json")
    assert counts["failed"] == 1 and len(errors) == 1 and puts == []


def test_where_comparisons_and_templates():
    rule = iot.parse_rule(
        "r",
        "SELECT temp AS t, topic() AS src FROM 'a/#' WHERE temp > 20 AND topic(2) = 'x' AND ok = true",
        sql_version=None,
        actions=[{"kinesis": {"streamName": "s", "partitionKey": "${topic(2)}-${t}"}}],
        error_action=None,
    )
    assert run(rule, "a/x/y", b'{"temp": 25, "ok": true}')[1] == [("s", "x-25", {"t": 25, "src": "a/x/y"})]
    assert run(rule, "a/x/y", b'{"temp": 15, "ok": true}')[0]["matched"] == 0
    assert run(rule, "a/z", b'{"temp": 25, "ok": true}')[0]["matched"] == 0
    assert run(rule, "a/x", b'{"ok": true}')[0]["matched"] == 0  # undefined field: not true


@pytest.mark.parametrize(
    "sql, what",
    [
        ("SELECT upper(device) FROM 'a/+'", "select item"),
        ("SELECT * FROM 'a/+' WHERE temp > 20 OR temp < 0", "WHERE"),
        ("SELECT * FROM 'a/+' WHERE startswith(topic(), 'a')", "WHERE"),
        ("SELECT * FROM 'a/+' GROUP BY x", "WHERE"),
        ("SELECT *, (SELECT 1) AS x FROM 'a'", "select item"),
        ("DELETE FROM 'a'", "cannot play"),
    ],
)
def test_sql_beyond_the_subset_is_refused_with_one_line(sql, what):
    with pytest.raises(iot.UnsupportedRule, match=what) as exc:
        iot.parse_rule("r", sql, sql_version=None, actions=KINESIS, error_action=None)
    assert "\n" not in str(exc.value) and "IoT rule r" in str(exc.value)


def test_other_actions_and_sql_versions_are_refused():
    with pytest.raises(iot.UnsupportedRule, match="Kinesis actions only"):
        iot.parse_rule("r", "SELECT * FROM 'a'", sql_version=None, actions=[{"lambda": {}}], error_action=None)
    with pytest.raises(iot.UnsupportedRule, match="SQL version"):
        iot.parse_rule("r", "SELECT * FROM 'a'", sql_version="2015-10-08", actions=KINESIS, error_action=None)
