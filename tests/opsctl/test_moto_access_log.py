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
