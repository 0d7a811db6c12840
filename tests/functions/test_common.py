"""The shared pieces of the zip: cached clients that honour the environment, logs, EMF, batch failures."""

from __future__ import annotations

import json

from common import batch, clients, metrics
from common.log import Logger


def test_clients_are_cached_and_follow_the_endpoint_and_region_in_the_environment(monkeypatch):
    clients.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    first = clients.client("dynamodb")
    assert clients.client("dynamodb") is first
    assert first.meta.endpoint_url == "http://127.0.0.1:5999" and first.meta.region_name == "eu-west-1"
    assert first.meta.config.retries["mode"] == "standard"
    assert first.meta.config.read_timeout and first.meta.config.connect_timeout

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:6000")  # another sandbox: another client
    assert clients.client("dynamodb").meta.endpoint_url == "http://127.0.0.1:6000"
    clients.reset()


def test_batch_failures_are_unique_and_in_shard_order():
    assert batch.item_failures(["100", "99", "100", "1000"]) == {
        "batchItemFailures": [{"itemIdentifier": "99"}, {"itemIdentifier": "100"}, {"itemIdentifier": "1000"}]
    }
    assert batch.item_failures([]) == {"batchItemFailures": []}


def test_logger_writes_one_json_object_per_line_and_honours_the_level(capsys, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "warning")
    log = Logger(None, environment="test")
    log.info("dropped")
    log.warning("kept", shard_id="shardId-000000000001")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["level"] == "WARNING" and line["message"] == "kept" and line["shard_id"] == "shardId-000000000001"
    assert line["timestamp"].endswith("Z") and line["environment"] == "test"


def test_emf_defaults_to_the_pipeline_namespace(capsys, monkeypatch):
    monkeypatch.delenv("METRICS_NAMESPACE", raising=False)
    metrics.emit({"RecordsIn": (3, "Count")}, function_name="f")
    line = json.loads(capsys.readouterr().out)
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TelemetryPipeline"
    assert line["RecordsIn"] == 3 and line["FunctionName"] == "f"
