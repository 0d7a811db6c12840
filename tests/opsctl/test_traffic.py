"""The traffic generator: real PutRecords against moto, every poison kind, throttled entries retried."""

import json

import boto3
import pytest
from moto import mock_aws

from opsctl.sandbox import traffic


@pytest.fixture
def kinesis():
    with mock_aws():
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName="s", ShardCount=2)
        yield client


def _all_records(client):
    out = []
    for shard in client.list_shards(StreamName="s")["Shards"]:
        it = client.get_shard_iterator(StreamName="s", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        out.extend(client.get_records(ShardIterator=it, Limit=10000)["Records"])
    return out


def test_sends_every_reading_and_every_poison_kind(kinesis):
    items = traffic.mix(traffic.readings(3, 1200), traffic.poison(22))
    result = traffic.send(kinesis, "s", items)
    records = _all_records(kinesis)
    assert result.sent == len(records) == 1222
    assert result.calls == 3  # 1222 records at ≤500 per PutRecords call
    assert result.poison == {kind: 2 for kind in traffic.POISON_KINDS}
    valid = [json.loads(r["Data"]) for r in records if r["PartitionKey"].startswith("dev-0")]
    assert sorted((v["device_id"], v["ts"]) for v in valid) == sorted(
        (r["device_id"], r["ts"]) for r in result.readings
    )


def test_readings_are_unique_per_device_and_in_the_past():
    rs = traffic.readings(4, 1000, end_ms=1_763_800_000_000)
    assert len({(r["device_id"], r["ts"]) for r in rs}) == 1000
    assert max(r["ts"] for r in rs) < 1_763_800_000_000


def test_same_seed_same_end_gives_the_same_readings():
    assert traffic.readings(2, 50, seed=3, end_ms=10**12) == traffic.readings(2, 50, seed=3, end_ms=10**12)


def test_throttled_entries_are_retried_until_accepted():
    class Flaky:
        calls = 0

        def put_records(self, StreamName, Records):
            self.calls += 1
            # the first attempt refuses every other record, as a hot shard would
            failed = self.calls == 1
            return {
                "Records": [
                    {"ErrorCode": "ProvisionedThroughputExceededException"}
                    if failed and i % 2
                    else {"SequenceNumber": "1"}
                    for i, _ in enumerate(Records)
                ]
            }

    items = traffic.mix(traffic.readings(1, 10), [])
    result = traffic.send(Flaky(), "s", items)
    assert result.sent == 10 and result.throttled_retries == 5


def test_records_still_refused_after_every_attempt_are_an_error_not_a_silent_loss():
    from opsctl.core.errors import OpsError

    class Refuses:
        def put_records(self, StreamName, Records):
            return {"Records": [{"ErrorCode": "ProvisionedThroughputExceededException"} for _ in Records]}

    with pytest.raises(OpsError, match="still refused"):
        traffic.send(Refuses(), "s", traffic.mix(traffic.readings(1, 3), []))


def test_a_held_rate_sends_a_tenth_of_a_second_per_call_and_reports_each_call(kinesis, monkeypatch):
    """--rate 1000: PutRecords of 100 records (not bursts of 500), every record sent once, a live line per call."""
    monkeypatch.setattr(traffic.time, "sleep", lambda s: None)  # the schedule, not the wall clock, is under test
    seen = []
    items = traffic.mix(traffic.readings(4, 1000), [])
    result = traffic.send(kinesis, "s", items, rate=1000, live=lambda r, elapsed: seen.append(r.sent))
    assert result.calls == 10 and result.sent == len(_all_records(kinesis)) == 1000
    assert seen == [100 * n for n in range(1, 11)]
