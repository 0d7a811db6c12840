"""Reshard plans stay inside AWS's per-call bounds with the fewest calls, refuse what AWS would refuse,
and land on the asked-for open count (verified with list_shards) against the real Kinesis API (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from opsctl.core import tfvars
from opsctl.core.errors import OpsError
from opsctl.stream import reshard


@pytest.mark.parametrize(
    "current,target,steps",
    [
        (1, 4, [2, 4]),
        (3, 10, [6, 10]),
        (8, 3, [4, 3]),
        (5, 1, [3, 2, 1]),
        (4, 4, []),
        (2, 3, [3]),
        (10_000, 5_000, [5_000]),
    ],
)
def test_reshard_steps_for_known_pairs(current, target, steps):
    assert reshard.reshard_steps(current, target) == steps


def test_every_plan_is_legal_minimal_and_lands_on_target():
    for current in range(1, 70):
        for target in range(1, 140):
            steps = reshard.reshard_steps(current, target)
            prev = current
            for n in steps:
                assert n <= 2 * prev and 2 * n >= prev, (current, target, steps)
                prev = n
            assert prev == target
            assert len(steps) == reshard.minimum_steps(current, target)


@pytest.fixture
def kinesis():
    with mock_aws():
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName="readings", ShardCount=3)
        yield client


def test_plan_and_apply_3_to_10_verifies_open_count(kinesis):
    the_plan = reshard.plan(kinesis, "readings", 10)
    assert the_plan.steps == [6, 10] and the_plan.current == 3
    assert any("10 UpdateShardCount calls" in w for w in the_plan.warnings)
    seen = []
    reshard.apply(kinesis, the_plan, progress=seen.append)
    assert [r.open_after for r in seen] == [6, 10]
    assert len(reshard.open_shards(kinesis, "readings")) == 10


def test_interrupted_reshard_plans_from_what_is_there(kinesis):
    kinesis.update_shard_count(
        StreamName="readings", TargetShardCount=6, ScalingType="UNIFORM_SCALING"
    )  # step 1 done, then interrupted
    again = reshard.plan(kinesis, "readings", 10)
    assert again.current == 6 and again.steps == [10]


@pytest.mark.parametrize("target,text", [(0, "at least 1"), (10_001, "at most 10,000")])
def test_refuses_counts_aws_refuses(kinesis, target, text):
    with pytest.raises(OpsError, match=text):
        reshard.plan(kinesis, "readings", target)


def test_refuses_on_demand_streams(kinesis):
    kinesis.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    with pytest.raises(OpsError, match="ON_DEMAND"):
        reshard.plan(kinesis, "od", 4)


def test_refuses_a_stream_that_is_not_active():
    client = boto3.client("kinesis", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "describe_stream_summary",
            {
                "StreamDescriptionSummary": {
                    "StreamName": "s",
                    "StreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
                    "StreamStatus": "UPDATING",
                    "RetentionPeriodHours": 24,
                    "StreamCreationTimestamp": 0,
                    "EnhancedMonitoring": [],
                    "OpenShardCount": 2,
                }
            },
        )
        with pytest.raises(OpsError, match="UPDATING, not ACTIVE"):
            reshard.plan(client, "s", 4)


def test_refuses_a_missing_stream(kinesis):
    with pytest.raises(OpsError, match="does not exist"):
        reshard.plan(kinesis, "nope", 4)


class _Quota:
    """The real client, with an account shard quota as small as a new account's."""

    def __init__(self, client, limit, open_count):
        self._client, self._limit, self._open = client, limit, open_count

    def describe_limits(self):
        return {"ShardLimit": self._limit, "OpenShardCount": self._open}

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_refuses_to_go_over_the_account_quota(kinesis):
    with pytest.raises(OpsError, match="over its quota of 20"):
        reshard.plan(_Quota(kinesis, 20, 15), "readings", 10)


def test_refuses_more_than_ten_calls_a_day(kinesis):
    kinesis.create_stream(StreamName="one", ShardCount=1)
    with pytest.raises(OpsError, match="allows 10 per stream per 24 h"):
        reshard.plan(_Quota(kinesis, 100_000, 1), "one", 2048)  # 11 doublings


class _Lying:
    """A stream whose UpdateShardCount silently stops short (what a verification must catch)."""

    def __init__(self, client):
        self._client = client

    def update_shard_count(self, **kwargs):
        return self._client.update_shard_count(**{**kwargs, "TargetShardCount": kwargs["TargetShardCount"] - 1})

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_apply_stops_when_list_shards_disagrees(kinesis):
    lying = _Lying(kinesis)
    the_plan = reshard.plan(lying, "readings", 4)
    with pytest.raises(OpsError, match="has 3 open shards, not 4"):
        reshard.apply(lying, the_plan)


def test_recommend_carries_the_busiest_minute_with_headroom():
    # 1,500 records/s at 70 % of 1,000 rec/s per shard → 3 shards; bytes are small here.
    target, by_bytes, by_records = reshard.recommend_shards(
        max_bytes_per_min=60 * 150_000, max_records_per_min=60 * 1500, headroom=0.7, consumer_floor=1
    )
    assert (target, by_records, by_bytes) == (3, 3, 1)
    # Bytes can dominate: 3 MiB/s at 50 % → 6 shards; a consumer needing 8 wins.
    assert (
        reshard.recommend_shards(max_bytes_per_min=60 * 3 * 1024 * 1024, max_records_per_min=60, headroom=0.5)[0] == 6
    )
    assert reshard.recommend_shards(max_bytes_per_min=0, max_records_per_min=0, headroom=0.7, consumer_floor=8)[0] == 8
    with pytest.raises(OpsError, match="headroom"):
        reshard.recommend_shards(max_bytes_per_min=1, max_records_per_min=1, headroom=1.5)


def test_recorded_shard_count_keeps_other_values(tmp_path, monkeypatch):
    monkeypatch.setattr(tfvars, "ENVS_DIR", tmp_path)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / tfvars.FILE_NAME).write_text(json.dumps({"table_read_capacity": 20}))
    rec = tfvars.record("dev", "ingest_shard_count", 8)
    assert rec.written
    assert json.loads((tmp_path / "dev" / tfvars.FILE_NAME).read_text()) == {
        "table_read_capacity": 20,
        "ingest_shard_count": 8,
    }


def test_unwritable_variables_file_gives_the_line_to_add(tmp_path, monkeypatch):
    monkeypatch.setattr(tfvars, "ENVS_DIR", tmp_path / "missing-parent-is-a-file")
    (tmp_path / "missing-parent-is-a-file").write_text("not a directory")
    rec = tfvars.record("prod", "ingest_shard_count", 12)
    assert not rec.written and rec.line == '{"ingest_shard_count": 12}'


def test_an_isolated_sandbox_records_in_its_own_folder(tmp_path):
    path = tfvars.vars_path("local", tmp_path / "sb")
    assert path == tmp_path / "sb" / tfvars.ISOLATED_FILE_NAME


def test_the_library_runs_a_whole_reshard_and_records_it_for_terraform(kinesis, tmp_path, monkeypatch):
    from opsctl.core.aws import AwsTarget
    from opsctl.core.stack import Stack

    monkeypatch.setattr(tfvars, "ENVS_DIR", tmp_path)
    (tmp_path / "dev").mkdir()
    stack = Stack(env="dev", target=AwsTarget(region="us-east-1"), outputs={"stream_name": "readings"})
    job = reshard.prepare(stack, reshard.Request(to=8))
    assert job.plan.steps == [6, 8] and job.applied == [] and job.terraform is None  # planned, nothing done
    seen = []
    reshard.carry_out(stack, job, progress=seen.append)
    assert [r.open_after for r in job.applied] == [6, 8] == [r.open_after for r in seen]
    assert len(reshard.open_shards(kinesis, "readings")) == 8
    assert json.loads((tmp_path / "dev" / tfvars.FILE_NAME).read_text()) == {"ingest_shard_count": 8}
    d = job.to_dict()
    assert d["terraform"]["written"] is True and [s["open_after"] for s in d["applied"]] == [6, 8]


@pytest.mark.parametrize(
    "request_, flags",
    [
        (dict(), "give exactly one of --to N or --recommend"),
        (dict(to=3, recommend=True), "give exactly one of --to N or --recommend"),
        (dict(to=0), "--to 0 is not a shard count AWS allows"),
        (dict(to=10_001), "--to 10001 is not a shard count AWS allows"),
        (dict(recommend=True, headroom=1.5), "--headroom 1.5 is not a share of the write limits"),
        (dict(recommend=True, window="soon"), "bad --window 'soon'"),
    ],
)
def test_a_bad_request_is_refused_before_any_aws_call(request_, flags):
    from opsctl.cli.errors import error_line
    from opsctl.core.errors import InvalidArgument

    with pytest.raises(InvalidArgument) as exc:
        reshard.Request(**request_).check()  # no stack, no client: nothing was called
    assert error_line(exc.value).startswith(flags)


def test_an_interrupted_reshard_records_the_count_it_reached(kinesis, tmp_path, monkeypatch):
    from opsctl.core.aws import AwsTarget
    from opsctl.core.stack import Stack

    monkeypatch.setattr(tfvars, "ENVS_DIR", tmp_path)
    (tmp_path / "dev").mkdir()
    stack = Stack(env="dev", target=AwsTarget(region="us-east-1"), outputs={"stream_name": "readings"})
    job = reshard.prepare(stack, reshard.Request(to=8))

    def ctrl_c_after_the_first_step(result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reshard.carry_out(stack, job, progress=ctrl_c_after_the_first_step)
    assert [r.open_after for r in job.applied] == [6] and len(reshard.open_shards(kinesis, "readings")) == 6
    # the next `terraform apply` keeps the 6 shards instead of undoing the step
    assert json.loads((tmp_path / "dev" / tfvars.FILE_NAME).read_text()) == {"ingest_shard_count": 6}
