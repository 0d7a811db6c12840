"""The sandbox's moto server logs the requests it failed (5xx), not every request it served."""

from __future__ import annotations

import logging

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from opsctl.sandbox.moto_main import quiet_access_log
from opsctl.sandbox.server import free_port


@pytest.fixture
def server():
    quiet_access_log()
    port = free_port()
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=True)
    srv.start()
    yield f"http://127.0.0.1:{port}"
    srv.stop()


def _werkzeug_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "werkzeug"]


def test_served_requests_leave_no_line_and_a_server_error_still_does(server, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="werkzeug")
    sqs = boto3.client(
        "sqs", endpoint_url=server, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    sqs.create_queue(QueueName="q")
    with pytest.raises(Exception):  # noqa: B017 - any client error: the queue does not exist (a 4xx)
        sqs.get_queue_url(QueueName="missing")
    assert _werkzeug_lines(caplog) == []

    from moto.sqs import responses

    def boom(self):
        raise RuntimeError("a bug in the server")

    monkeypatch.setattr(responses.SQSResponse, "list_queues", boom)
    once = boto3.client(
        "sqs",
        endpoint_url=server,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as failed:
        once.list_queues()
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert any(" 500 " in line for line in _werkzeug_lines(caplog))


def test_a_request_the_sdk_sent_again_is_logged_with_its_attempt_and_invocation(server, caplog, monkeypatch):
    """The provider's rare "already exists" on `sandbox up` comes from a create sent twice: each retry leaves a line."""
    caplog.set_level(logging.INFO, logger="werkzeug")
    from moto.sqs import responses

    real, calls = responses.SQSResponse.create_queue, []

    def flaky(self):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the first attempt fails")
        return real(self)

    monkeypatch.setattr(responses.SQSResponse, "create_queue", flaky)
    sqs = boto3.client(
        "sqs", endpoint_url=server, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    sqs.create_queue(QueueName="twice")
    retries = [line for line in _werkzeug_lines(caplog) if line.startswith("sdk retry")]
    assert len(retries) == 1 and len(calls) == 2
    assert "attempt 2 of invocation " in retries[0] and "AmazonSQS.CreateQueue" in retries[0]
    assert retries[0].endswith("answered 200")
    sqs.list_queues()  # a first attempt leaves nothing
    assert len([line for line in _werkzeug_lines(caplog) if line.startswith("sdk retry")]) == 1


def test_a_create_served_twice_leaves_the_line_sandbox_up_starts_over_on(server, caplog, monkeypatch):
    """The flake's shape: the first CreateStream was served but its answer lost (here: a 500 after the create), so
    the SDK's retry is refused as "in use". That line is what `deploy.up` watches the log for (REFUSED_RETRY)."""
    from moto.kinesis import responses

    from opsctl.sandbox import deploy

    caplog.set_level(logging.INFO, logger="werkzeug")
    real, calls = responses.KinesisResponse.create_stream, []

    def served_then_lost(self):
        calls.append(1)
        answer = real(self)
        if len(calls) == 1:
            raise RuntimeError("the answer is lost after the create")
        return answer

    monkeypatch.setattr(responses.KinesisResponse, "create_stream", served_then_lost)
    kinesis = boto3.client(
        "kinesis", endpoint_url=server, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with pytest.raises(ClientError, match="ResourceInUseException"):
        kinesis.create_stream(StreamName="twice", ShardCount=1)
    found = [deploy.REFUSED_RETRY.search(line) for line in _werkzeug_lines(caplog)]
    refused = [m.groups() for m in found if m]
    assert refused == [("Kinesis_20131202.CreateStream", "400")]
    assert not any(
        deploy.REFUSED_RETRY.search(line) for line in ["sdk retry: attempt 2 of invocation x (y) at 1 answered 200"]
    )
