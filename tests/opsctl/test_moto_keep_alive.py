"""The sandbox's moto server keeps a client's connection open from request to request (werkzeug's server closed
it after every response), and every request on a kept connection is still answered as its own."""

from __future__ import annotations

import io
import logging
import socket

import boto3
import pytest
from moto.server import ThreadedMotoServer

from opsctl.sandbox.moto_main import keep_alive_connections
from opsctl.sandbox.server import free_port

CREDS = {"region_name": "us-east-1", "aws_access_key_id": "a", "aws_secret_access_key": "b"}


@pytest.fixture
def server():
    keep_alive_connections()
    port = free_port()
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    srv.start()
    yield port
    srv.stop()


def test_one_connection_serves_many_calls_of_every_protocol_with_the_right_answers(server):
    endpoint = f"http://127.0.0.1:{server}"
    opened = io.StringIO()
    handler = logging.StreamHandler(opened)
    pool_log = logging.getLogger("urllib3.connectionpool")
    pool_log.addHandler(handler)
    pool_log.setLevel(logging.DEBUG)
    try:
        sqs = boto3.client("sqs", endpoint_url=endpoint, **CREDS)
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, **CREDS)
        s3 = boto3.client("s3", endpoint_url=endpoint, **CREDS)
        url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3.create_bucket(Bucket="bucket-one")
        for i in range(10):
            sqs.send_message(QueueUrl=url, MessageBody=f"job-{i}" * (i + 1))
            ddb.put_item(TableName="t", Item={"k": {"S": f"k{i}"}, "v": {"S": "x" * (100 * i)}})
            s3.put_object(Bucket="bucket-one", Key=f"o{i}", Body=b"y" * (1000 * i))
        with pytest.raises(ddb.exceptions.ResourceNotFoundException):  # an error answer keeps the connection too
            ddb.get_item(TableName="missing", Key={"k": {"S": "k1"}})
        bodies = []
        while len(bodies) < 10:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            bodies += [m["Body"] for m in got]
        assert sorted(bodies) == sorted(f"job-{i}" * (i + 1) for i in range(10))
        assert ddb.get_item(TableName="t", Key={"k": {"S": "k7"}})["Item"]["v"]["S"] == "x" * 700
        assert s3.get_object(Bucket="bucket-one", Key="o9")["Body"].read() == b"y" * 9000
    finally:
        pool_log.removeHandler(handler)
    log = opened.getvalue()
    assert log.count("Starting new HTTP connection") == 3  # one per client, for 60-odd calls
    assert "Resetting dropped connection" not in log


def _request(body: bytes, *, extra: str = "", agent: str = "Boto3/1.0 md/Botocore#1.0 Botocore/1.0") -> bytes:
    return (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {agent}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        "X-Amz-Target: DynamoDB_20120810.ListTables\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/dynamodb/aws4_request, "
        f"SignedHeaders=host, Signature=x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def _responses(sock: socket.socket, count: int) -> list[bytes]:
    data = b""
    sock.settimeout(10)
    while data.count(b"HTTP/1.1 ") < count or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return [b"HTTP/1.1 " + part for part in data.split(b"HTTP/1.1 ")[1:]]


def test_pipelined_requests_with_bodies_the_server_ignores_are_answered_each_and_close_is_honoured(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        # ListTables ignores most of its body: those bytes must not be read as the next request line
        sock.sendall(_request(b'{"Limit": 5, "padding": "' + b"p" * 5000 + b'"}') + _request(b"{}"))
        answers = _responses(sock, 2)
        assert len(answers) == 2 and all(a.startswith(b"HTTP/1.1 200") for a in answers)
        assert all(b'"TableNames"' in a for a in answers)
        sock.sendall(_request(b"{}", extra="Connection: close\r\n"))
        last = _responses(sock, 1)
        assert last[0].startswith(b"HTTP/1.1 200") and b"Connection: close" in last[0]
        assert sock.recv(10) == b""  # the server closed it, as asked


def test_clients_other_than_boto3_get_one_request_per_connection_as_before(server):
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(_request(b"{}", agent="aws-sdk-go-v2/1.36.3"))
        answer = _responses(sock, 1)
        assert answer[0].startswith(b"HTTP/1.1 200") and b"Connection: close" in answer[0]
        assert sock.recv(10) == b""


def test_every_accepted_connection_sends_without_nagle_delay(server):
    """A kept connection with Nagle's algorithm on waits for the client's delayed ACK between a response's headers
    and its body (40 ms a request): the server's side of each connection has TCP_NODELAY."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            handler = object.__new__(MotoRequestHandler)
            handler.request = accepted
            handler.setup()
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
