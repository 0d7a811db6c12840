"""The sandbox's CloudWatch reads (opsctl/sandbox/cw_reads.py) on moto: a read sees the minute served so far, and
percentile statistics come from the raw values of each period."""

from __future__ import annotations

import datetime as dt
import time

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import CloudWatchBackend

from opsctl.sandbox import cw_metrics, cw_reads


@pytest.fixture
def cloudwatch(monkeypatch):
    """moto's CloudWatch with the sandbox's read patches, undone afterwards (other tests run stock moto)."""
    cw_metrics.exact_dimension_statistics()  # installed for good (test_cw_metrics.py does the same)
    cw_metrics.indexed_metric_data()
    for name in ("get_metric_data", "get_metric_statistics"):
        monkeypatch.setattr(CloudWatchBackend, name, getattr(CloudWatchBackend, name))
    monkeypatch.setattr(CloudWatchBackend, "_sandbox_flush_before_reads", False, raising=False)
    cw_reads.install()
    cw_metrics.ACCUMULATOR.reset()
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")
    cw_metrics.ACCUMULATOR.reset()


def _stats(cw, metric: str) -> list[dict]:
    now = dt.datetime.now(dt.UTC)
    return cw.get_metric_statistics(
        Namespace="AWS/DynamoDB",
        MetricName=metric,
        Dimensions=[{"Name": "TableName", "Value": "t"}],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=2),
        Period=60,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"]


def test_a_read_sees_the_minute_served_so_far_and_later_traffic_adds_to_it(cloudwatch):
    now = time.time()
    if now % 60 > 55:  # both records must fall in one minute
        time.sleep(61 - now % 60)
    cw_metrics.record("AWS/DynamoDB", "ConsumedWriteCapacityUnits", {"TableName": "t"}, 3, "Count")
    (first,) = _stats(cloudwatch, "ConsumedWriteCapacityUnits")  # no flush by hand, and the minute is not over
    assert (first["Sum"], first["SampleCount"]) == (3, 1)
    cw_metrics.record("AWS/DynamoDB", "ConsumedWriteCapacityUnits", {"TableName": "t"}, 4, "Count")
    (again,) = _stats(cloudwatch, "ConsumedWriteCapacityUnits")
    assert (again["Sum"], again["SampleCount"]) == (7, 2)  # one minute, as if published once at its end


def _percentiles(cw, metric: str, stats: list[str]) -> dict[str, list[float]]:
    now = dt.datetime.now(dt.UTC)
    queries = [
        {
            "Id": f"q{i}",
            "MetricStat": {
                "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": metric},
                "Period": 3600,
                "Stat": stat,
            },
        }
        for i, stat in enumerate(stats)
    ]
    answer = cw.get_metric_data(
        MetricDataQueries=queries, StartTime=now - dt.timedelta(hours=1), EndTime=now + dt.timedelta(minutes=1)
    )
    by_id = {r["Id"]: r["Values"] for r in answer["MetricDataResults"]}
    return {stat: by_id[f"q{i}"] for i, stat in enumerate(stats)}


def test_percentiles_are_the_nearest_rank_of_the_raw_values(cloudwatch):
    data = [{"MetricName": "Latency", "Value": float(v), "Unit": "Milliseconds"} for v in range(100, 0, -1)]
    for i in range(0, len(data), 20):
        cloudwatch.put_metric_data(Namespace="AWS/ApiGateway", MetricData=data[i : i + 20])
    got = _percentiles(cloudwatch, "Latency", ["p99", "p50", "p99.9", "p100", "Maximum"])
    assert got == {"p99": [99.0], "p50": [50.0], "p99.9": [100.0], "p100": [100.0], "Maximum": [100.0]}


def test_a_period_of_statistic_sets_only_has_no_percentile(cloudwatch):
    cloudwatch.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {
                "MetricName": "Latency",
                "StatisticValues": {"SampleCount": 10, "Sum": 100, "Minimum": 1, "Maximum": 30},
                "Unit": "Milliseconds",
            }
        ],
    )
    assert _percentiles(cloudwatch, "Latency", ["p99", "Maximum"]) == {"p99": [], "Maximum": [30.0]}


def test_nearest_rank():
    assert cw_reads.percentile([], 99) is None
    assert cw_reads.percentile([5.0], 1) == 5.0
    assert cw_reads.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and cw_reads.percentile([1.0, 2.0, 3.0, 4.0], 51) == 3.0
