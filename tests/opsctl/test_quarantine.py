"""`opsctl quarantine list`: counts by reason, day and reason filters, bounded reads, clear errors."""

import base64
import json

import boto3
import pytest
from moto import mock_aws

from opsctl.core.aws import AwsTarget
from opsctl.core.errors import OpsError
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
    with pytest.raises(OpsError, match="--day must be a UTC date"):
        quarantine.list_records(stack, day="24/11/2026")


def test_missing_bucket_is_a_user_error(stack):
    stack.outputs["quarantine_bucket"] = "no-such-bucket"
    with pytest.raises(OpsError, match="cannot read the quarantine bucket 'no-such-bucket': NoSuchBucket"):
        quarantine.list_records(stack)
