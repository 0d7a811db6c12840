"""`opsctl quarantine list`: counts by reason, day and reason filters, bounded reads, clear errors."""

import base64
import json

import boto3
import pytest
from moto import mock_aws

from opsctl.cli.errors import error_line
from opsctl.core.aws import AwsTarget
from opsctl.core.errors import InvalidArgument, OpsError
from opsctl.core.stack import Stack
from opsctl.quarantine import store as quarantine

BUCKET = "telemetry-test-quarantine"


def _put(s3, day, shard, seq, reason, data=b'{"ts": 1}'):
    body = {
        "reason_code": reason,
        "reason": f"because {reason}",
        "shard_id": shard,
        "sequence_number": seq,
        "partition_key": "dev-1",
        "approximate_arrival_timestamp": f"{day}T00:00:00Z",
        "data_base64": base64.b64encode(data).decode(),
    }
    s3.put_object(Bucket=BUCKET, Key=f"quarantine/dt={day}/{shard}/{seq}.json", Body=json.dumps(body))


@pytest.fixture
def stack():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        _put(s3, "2026-11-23", "shardId-000000000000", "101", "not_json")
        _put(s3, "2026-11-24", "shardId-000000000000", "201", "ts_out_of_window")
        _put(s3, "2026-11-24", "shardId-000000000001", "202", "ts_out_of_window", data=b"\xff\xfe binary")
        _put(s3, "2026-11-24", "shardId-000000000001", "203", "bad_device_id")
        yield Stack(
            env="test",
            target=AwsTarget(region="us-east-1"),
            outputs={"quarantine_bucket": BUCKET, "quarantine_prefix": "quarantine/"},
        )


def test_counts_every_record_by_reason(stack):
    listing = quarantine.list_records(stack).to_dict()
    assert listing["by_reason"] == {"bad_device_id": 1, "not_json": 1, "ts_out_of_window": 2}
    assert listing["matched"] == 4 and not listing["truncated"]
    assert all("data_base64" not in r for r in listing["records"])


def test_day_and_reason_narrow_the_listing(stack):
    listing = quarantine.list_records(stack, day="2026-11-24", reason="ts_out_of_window").to_dict()
    assert [r["sequence_number"] for r in listing["records"]] == ["201", "202"]
    assert listing["read"] == 3  # only that day's prefix was read


def test_binary_data_is_previewed_safely_and_kept_whole_on_request(stack):
    listing = quarantine.list_records(stack, day="2026-11-24", reason="ts_out_of_window", with_data=True).to_dict()
    binary = listing["records"][1]
    assert "binary" in binary["preview"]
    assert base64.b64decode(binary["data_base64"]) == b"\xff\xfe binary"


def test_limit_stops_reading_and_says_so(stack):
    listing = quarantine.list_records(stack, limit=2).to_dict()
    assert listing["read"] == 2 and listing["truncated"]


def test_malformed_day_is_a_user_error(stack):
    with pytest.raises(InvalidArgument, match="day must be a UTC date") as exc:
        quarantine.list_records(stack, day="24/11/2026")
    assert error_line(exc.value).startswith("--day must be a UTC date")


def test_missing_bucket_is_a_user_error(stack):
    stack.outputs["quarantine_bucket"] = "no-such-bucket"
    with pytest.raises(OpsError, match="cannot read the quarantine bucket 'no-such-bucket': NoSuchBucket"):
        quarantine.list_records(stack)


def _batch_record(seq: str, data: bytes) -> dict:
    """A Kinesis event record as Lambda delivers it to the ingest function."""
    return {
        "eventID": f"shardId-000000000002:{seq}",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/telemetry-test-readings",
        "kinesis": {
            "sequenceNumber": seq,
            "partitionKey": "dev-9",
            "approximateArrivalTimestamp": 1_795_000_000.5,  # 2026-11-18 UTC
            "data": base64.b64encode(data).decode(),
        },
    }


def test_a_batch_object_from_the_ingest_function_lists_every_record_once_with_its_data(stack):
    from common.log import Logger
    from ingest import quarantine as ingest_quarantine
    from ingest.validate import Rejection

    s3 = stack.target.client("s3")
    log = Logger(None)
    batch = [(_batch_record(str(300 + i), b"not json %d" % i), Rejection("not_json", "not JSON")) for i in range(5)]
    assert ingest_quarantine.put_batch(s3, BUCKET, "quarantine/", batch, None, log)
    # Lambda re-delivers from the third record on (an earlier write failed): an object overlapping the first.
    assert ingest_quarantine.put_batch(s3, BUCKET, "quarantine/", batch[2:], None, log)

    listing = quarantine.list_records(stack, day="2026-11-18", with_data=True).to_dict()
    assert [r["sequence_number"] for r in listing["records"]] == [str(300 + i) for i in range(5)]  # each once
    assert listing["by_reason"] == {"not_json": 5} and listing["read"] == 5
    # Replayable: each record's exact bytes, as the device sent them.
    assert [base64.b64decode(r["data_base64"]) for r in listing["records"]] == [b"not json %d" % i for i in range(5)]
    assert all(r["key"].endswith(".jsonl") for r in listing["records"])
    # The limit counts records, also inside one object.
    assert quarantine.list_records(stack, day="2026-11-18", limit=3).to_dict()["truncated"]
