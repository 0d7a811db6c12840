"""The log-alert handler on moto's AWS: CloudWatch Logs subscription records (gzip'd, base64 in Kinesis) of
real ERROR lines become one grouped, readable message on the alerts topic; other lines, control messages and
duplicated events do not; a record CloudWatch Logs did not write is handed back to Lambda, never dropped."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from alert.handler import FILTER_PATTERN, handler
from common import clients
from common.log import Logger

from .conftest import REGION, FakeContext, kinesis_record

ROOT = Path(__file__).resolve().parents[2]
INGEST = "telemetry-test-ingest"


@pytest.fixture
def topic(monkeypatch):
    """The alerts topic with an SQS queue subscribed, as on-call's test subscription; yields a reader of the queue."""
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("ENVIRONMENT", "test")
    clients.reset()
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        arn = sns.create_topic(Name="telemetry-test-alerts")["TopicArn"]
        url = sqs.create_queue(QueueName="alerts-test")["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
        monkeypatch.setenv("ALERTS_TOPIC_ARN", arn)

        def received() -> list[dict]:
            out = []
            while True:
                msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
                if not msgs:
                    return out
                for m in msgs:
                    out.append(json.loads(m["Body"]))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

        yield received
    clients.reset()


def log_lines(capsys, function_name: str = INGEST, request_id: str = "req-1") -> list[str]:
    """Lines our Logger really writes (two poison ERROR lines and an INFO line), plus the line the runtime
    writes when a handler raises (opsctl.sandbox.runtime.function, like Lambda's)."""
    capsys.readouterr()
    log = Logger(FakeContext(function_name=function_name, aws_request_id=request_id))
    log.error("poison record quarantined", reason_code="bad_ts", reason="ts is not epoch milliseconds")
    log.info("batch done", records=3)
    log.error("poison record quarantined", reason_code="not_json", reason="not JSON")
    lines = capsys.readouterr().out.splitlines()
    crash = {"level": "ERROR", "errorType": "KeyError", "errorMessage": "'Records'", "requestId": request_id}
    return [*lines, json.dumps(crash)]


def logs_record(
    lines: list[str],
    seq: int,
    *,
    group: str = f"/aws/lambda/{INGEST}",
    first_id: int = 1,
    message_type: str = "DATA_MESSAGE",
) -> dict:
    """A Kinesis record as a CloudWatch Logs subscription filter writes it: gzip'd JSON, base64 in the event."""
    doc = {
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": group,
        "logStream": "2026/01/01/[$LATEST]abc",
        "subscriptionFilters": ["telemetry-test-errors"],
        "logEvents": [
            {"id": str(first_id + i), "timestamp": 1_767_225_600_000 + i * 1000, "message": line}
            for i, line in enumerate(lines)
        ],
    }
    return kinesis_record(gzip.compress(json.dumps(doc).encode()), seq, partition_key="a" * 32)


def test_error_lines_become_one_grouped_message(topic, capsys):
    event = {"Records": [logs_record(log_lines(capsys), 1)]}
    assert handler(event, FakeContext(function_name="telemetry-test-alert")) == {"batchItemFailures": []}
    (msg,) = topic()
    assert msg["Subject"] == f"[test] 3 ERROR lines in {INGEST}"
    body = msg["Message"]
    assert f'{INGEST}: "poison record quarantined" x2' in body and '"bad_ts" x1' in body and '"not_json" x1' in body
    assert f'{INGEST}: "KeyError" x1' in body
    assert "batch done" not in body  # INFO lines never page anyone
    assert "runbooks/function-errors.md" in body


def test_the_same_error_from_two_functions_is_two_groups_in_one_message(topic, capsys):
    event = {
        "Records": [
            logs_record(log_lines(capsys)[:3], 1),
            logs_record(
                log_lines(capsys, "telemetry-test-rollup", "req-2")[:3],
                2,
                group="/aws/lambda/telemetry-test-rollup",
                first_id=100,
            ),
        ]
    }
    handler(event, FakeContext())
    (msg,) = topic()
    assert "in telemetry-test-ingest, telemetry-test-rollup" in msg["Subject"]
    assert len(re.findall(r'^\S+: "poison record quarantined" x2$', msg["Message"], re.M)) == 2


def test_a_log_event_delivered_twice_counts_once(topic, capsys):
    lines = log_lines(capsys)[:1]
    event = {"Records": [logs_record(lines, 1, first_id=7), logs_record(lines, 2, first_id=7)]}
    handler(event, FakeContext())
    (msg,) = topic()
    assert '"poison record quarantined" x1' in msg["Message"] and msg["Subject"].startswith("[test] 1 ERROR line in")


# What Lambda's Python runtime itself writes (awslambdaric bootstrap.log_error; Lambda's timeout and
# runtime-exit lines), literally, in the Text log format (default) and the JSON one.
RID = "3f0c2d4e-5b6a-4c7d-8e9f-0a1b2c3d4e5f"
RUNTIME_ERROR_LINES = {
    "KeyError": "[ERROR] KeyError: 'Records'\nTraceback (most recent call last):\n"
    '\u00a0\u00a0File "/var/task/ingest/handler.py", line 40, in handler\n'
    '\u00a0\u00a0\u00a0\u00a0records = event["Records"]',
    "Runtime.ImportModuleError": "[ERROR] Runtime.ImportModuleError: Unable to import module 'ingest.handler': "
    "No module named 'ingest'\nTraceback (most recent call last):",
    "Sandbox.Timedout": f"2026-01-01T00:00:03.004Z {RID} Task timed out after 3.00 seconds",
    "Runtime.ExitError": f"RequestId: {RID} Error: Runtime exited with error: signal: killed",
    "ValueError": json.dumps(
        {
            "timestamp": "2026-01-01T00:00:00Z",
            "level": "ERROR",
            "errorMessage": "bad",
            "errorType": "ValueError",
            "requestId": RID,
            "stackTrace": ['  File "/var/task/x.py", line 1, in h\n'],
        }
    ),
}
JSON_TIMEOUT_REPORT = json.dumps(
    {
        "time": "2026-01-01T00:00:03.004Z",
        "type": "platform.report",
        "record": {"requestId": RID, "status": "timeout", "errorType": "Sandbox.Timedout", "metrics": {}},
    }
)


def test_the_runtimes_own_crash_init_failure_timeout_and_exit_lines_alert(topic):
    routine = [
        f"START RequestId: {RID} Version: $LATEST",
        f"END RequestId: {RID}",
        "REPORT RequestId: x\tDuration: 1 ms",
    ]
    lines = [*RUNTIME_ERROR_LINES.values(), *routine]
    handler({"Records": [logs_record(lines, 1), logs_record([JSON_TIMEOUT_REPORT], 2, first_id=50)]}, FakeContext())
    (msg,) = topic()
    assert msg["Subject"] == f"[test] 6 ERROR lines in {INGEST}"
    body = msg["Message"]
    # error types and messages are log text, so the alert quotes them (device data may be in them)
    for error, n in (
        ("KeyError", 1),
        ("Runtime.ImportModuleError", 1),
        ("Sandbox.Timedout", 2),
        ("Runtime.ExitError", 1),
    ):
        assert f'{INGEST}: "{error}" x{n}' in body
    assert '"Task timed out after 3.00 seconds" x1' in body and RID in body


def test_no_error_lines_and_control_messages_publish_nothing(topic, capsys):
    info = [
        json.dumps({"level": "INFO", "message": "ok"}),
        "START RequestId: x Version: $LATEST",
        "not json at all",
        json.dumps({"time": "t", "type": "platform.report", "record": {"requestId": RID, "status": "success"}}),
    ]
    event = {"Records": [logs_record(info, 1), logs_record([], 2, message_type="CONTROL_MESSAGE")]}
    assert handler(event, FakeContext()) == {"batchItemFailures": []}
    assert topic() == []


def test_a_record_cloudwatch_logs_did_not_write_goes_back_to_lambda_and_the_rest_still_alerts(topic, capsys):
    good = logs_record(log_lines(capsys)[:1], 2)
    not_gzip = kinesis_record(b'{"level": "ERROR"}', 1)
    result = handler({"Records": [not_gzip, good]}, FakeContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "1"}]}  # retried, then kept in the on-failure queue
    (msg,) = topic()
    assert '"poison record quarantined" x1' in msg["Message"]


def test_a_failed_publish_fails_the_batch_so_it_is_retried(topic, capsys, monkeypatch):
    monkeypatch.setenv("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:no-such-topic")
    with pytest.raises(Exception, match=r"NotFound|does not exist"):
        handler({"Records": [logs_record(log_lines(capsys)[:1], 1)]}, FakeContext())


def test_terraform_subscribes_with_the_pattern_the_handler_applies():
    text = (ROOT / "terraform" / "modules" / "log_alerts" / "main.tf").read_text()
    m = re.search(r'filter_pattern\s*=\s*"((?:[^"\\]|\\.)*)"', text)
    assert m and m.group(1).replace('\\"', '"') == FILTER_PATTERN


def test_device_text_reaches_on_call_quoted_escaped_and_never_as_a_link(topic, capsys):
    # What a hostile device controls: its device_id and payload fragments, echoed into an ERROR line.
    hostile = (
        "URGENT: rotate keys at https://evil.example/rotate \x1b[2J\x1b]8;;https://x.example\x07 \u202egnp.exe\x7f"
    )
    capsys.readouterr()
    log = Logger(FakeContext(function_name=INGEST, aws_request_id="req-9"))
    log.error(f"poison record quarantined from {hostile}", reason_code=hostile, device_id=hostile)
    lines = capsys.readouterr().out.splitlines()
    handler({"Records": [logs_record(lines, 1)]}, FakeContext(function_name="telemetry-test-alert"))
    (msg,) = topic()
    body = msg["Message"]
    assert "https://" not in body and "https[:]//" in body  # no live link
    assert all(ch not in body for ch in ("\x1b", "\x07", "\x7f", "\u202e"))  # no escape sequence, no bidi override
    assert body.isascii() and "\\u001b[2J" in body and "\\u202e" in body
    assert '"poison record quarantined from URGENT: rotate keys at https[:]//evil.example/rotate' in body  # quoted
    assert "may hold device data" in body


def test_a_batch_poison_line_shows_its_counts_by_reason(topic, capsys):
    capsys.readouterr()
    log = Logger(FakeContext(function_name=INGEST, aws_request_id="req-3"))
    log.error("poison records quarantined", records=1002, reasons={"not_json": 1000, "bad_ts": 2})
    lines = capsys.readouterr().out.splitlines()
    handler({"Records": [logs_record(lines, 1)]}, FakeContext(function_name="telemetry-test-alert"))
    (msg,) = topic()
    assert f'{INGEST}: "poison records quarantined" x1' in msg["Message"]
    assert '"not_json" x1000, "bad_ts" x2' in msg["Message"]
