"""What keeps a command that answers in under a second that fast, as outcomes rather than timings (the wall time is
a `make bench` row): which modules a run imports, and that the status screen reads its parts side by side and
shows a part that does not answer as unreadable instead of hanging on it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from opsctl.core.aws import AwsTarget
from opsctl.core.stack import Stack
from opsctl.monitoring import status

ROOT = Path(__file__).resolve().parents[2]


def _imported(tmp_path, *argv: str) -> set[str]:
    """The top-level packages a real `opsctl ARGV` run imported (python -X importtime lists every import)."""
    env = {**os.environ, "OPSCTL_SANDBOX_DIR": str(tmp_path / "no-sandbox")}
    env.pop("OPSCTL_ENV", None)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "opsctl.cli.app", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = {
        line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "import time:" in line
    }
    assert "opsctl" in names, proc.stderr[-2000:]  # the listing is there: an empty set would pass anything
    return names


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["sandbox", "--help"], ["replay-dlq", "--help"]])
def test_help_and_version_never_import_an_aws_sdk(tmp_path, argv):
    imported = _imported(tmp_path, *argv)
    assert not imported & {"boto3", "botocore", "s3transfer", "moto"}


def test_a_status_run_uses_botocore_clients_without_boto3s_resource_layer(tmp_path, moto_endpoint):
    imported = _imported(tmp_path, "--endpoint-url", moto_endpoint, "--stream", "s", "--table", "t", "status")
    assert "botocore" in imported  # it did reach AWS (the moto server)
    assert not imported & {"boto3", "s3transfer", "moto"}


class _Hanging:
    """A client whose every call blocks until released: an endpoint that accepted the connection and went quiet."""

    def __init__(self, release: threading.Event):
        self.release = release

    def __getattr__(self, name):
        def call(**kwargs):
            self.release.wait(30)
            raise AssertionError("answered after the screen was shown")

        return call


def test_a_part_that_does_not_answer_is_unreadable_and_the_rest_is_shown(moto_endpoint):
    import boto3

    creds = {"aws_access_key_id": "t", "aws_secret_access_key": "t", "region_name": "us-east-1"}
    boto3.client("kinesis", endpoint_url=moto_endpoint, **creds).create_stream(StreamName="readings", ShardCount=2)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, **creds)
    url = sqs.create_queue(QueueName="rollups")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    target = AwsTarget(endpoint_url=moto_endpoint, sandbox=True)
    release = threading.Event()
    hanging = _Hanging(release)
    real_client = target.client
    object.__setattr__(target, "client", lambda service: hanging if service == "dynamodb" else real_client(service))
    stack = Stack(
        env="test", target=target, outputs={"stream_name": "readings", "table_name": "t", "rollup_queue_url": url}
    )
    try:
        data = status.collect(stack, timeout_s=3)
    finally:
        release.set()
    assert data["table"] == {"error": "no answer within 3 s"}
    assert data["stream"]["open_shards"] == 2
    assert [(q["queue"], q["visible"]) for q in data["queues"]] == [("rollups", 1)]
    assert data["alarms"] == []


def test_a_missing_output_is_one_clear_error_before_any_call(moto_endpoint):
    from opsctl.core.errors import OpsError

    stack = Stack(env="test", target=AwsTarget(endpoint_url=moto_endpoint, sandbox=True), outputs={"table_name": "t"})
    with pytest.raises(OpsError, match="has no 'stream_name'"):
        status.collect(stack)
