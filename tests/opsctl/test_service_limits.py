"""DynamoDB and SQS limits the code relies on and moto does not enforce, refused by the sandbox's moto server
with AWS's errors (opsctl.sandbox.limits); what moto already refuses is pinned too, so an upgrade that
drops it shows up here."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from opsctl.core.aws import AwsTarget
from opsctl.sandbox import limits, server


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("service-limits")
    state = server.start(state_dir=state_dir)
    try:
        target = AwsTarget(endpoint_url=state.endpoint, sandbox=True)
        ddb = target.client("dynamodb")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = target.client("sqs")
        url = sqs.create_queue(QueueName="q", Attributes={"MaximumMessageSize": str(256 * 1024)})["QueueUrl"]
        yield ddb, sqs, url
    finally:
        server.stop(state_dir)


def _refused(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def _puts(n: int, prefix: str) -> dict:
    return {"t": [{"PutRequest": {"Item": {"k": {"S": f"{prefix}{i}"}}}} for i in range(n)]}


def test_batch_write_item_takes_25_requests_not_26(aws):
    ddb, _, _ = aws
    ddb.batch_write_item(RequestItems=_puts(25, "a"))
    code, message = _refused(lambda: ddb.batch_write_item(RequestItems=_puts(26, "b")))
    assert code == "ValidationException" and "less than or equal to 25" in message
    assert ddb.get_item(TableName="t", Key={"k": {"S": "b0"}}).get("Item") is None  # nothing of it written


@pytest.mark.parametrize(
    "number, fragment",
    [("1E+126", "Number overflow"), ("1" * 39, "38 significant digits"), ("1E-131", "underflow")],
)
def test_numbers_dynamodb_cannot_hold_are_refused_anywhere_in_an_item(aws, number, fragment):
    ddb, _, _ = aws
    nested = {"k": {"S": "n"}, "metrics": {"M": {"temp_c": {"N": number}}}}
    assert fragment in _refused(lambda: ddb.put_item(TableName="t", Item=nested))[1]
    assert fragment in _refused(lambda: ddb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": nested}}]}))[1]
    ddb.put_item(TableName="t", Item={"k": {"S": "ok"}, "n": {"N": "9.9999999999999999999999999999999999999E+125"}})


def test_an_item_over_400_kb_is_refused(aws):
    ddb, _, _ = aws
    code, _ = _refused(lambda: ddb.put_item(TableName="t", Item={"k": {"S": "big"}, "v": {"S": "x" * (401 * 1024)}}))
    assert code == "ValidationException"


def test_sqs_counts_bytes_and_attributes_against_the_queues_maximum(aws):
    _, sqs, url = aws
    body = "é" * (128 * 1024)  # 128 Ki characters, 256 KiB of UTF-8: over once anything is added
    code, message = _refused(
        lambda: sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageAttributes={"a": {"DataType": "String", "StringValue": "x"}}
        )
    )
    assert code == "InvalidParameterValue" and "shorter than 262144 bytes" in message
    sqs.send_message(QueueUrl=url, MessageBody="x" * (200 * 1024))


def test_send_message_batch_takes_10_entries_and_256_kib_in_all(aws):
    _, sqs, url = aws
    code, _ = _refused(
        lambda: sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)])
    )
    assert "TooManyEntriesInBatchRequest" in code
    code, message = _refused(
        lambda: sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * (100 * 1024)} for i in range(3)]
        )
    )
    assert "BatchRequestTooLong" in code and f"longer than {limits.SEND_BATCH_MAX_BYTES} bytes" in message
