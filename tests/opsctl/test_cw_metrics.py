"""The sandbox's metric accumulator: per-minute statistic sets, published into moto's CloudWatch so that
GetMetricStatistics and GetMetricData answer as CloudWatch does for AWS's own metrics."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from opsctl.sandbox.cw_metrics import (
    MINUTE_S,
    MetricAccumulator,
    MotoSink,
    exact_dimension_statistics,
    indexed_metric_data,
)

REGION = "eu-west-1"
T0 = 1_800_000_000 - 1_800_000_000 % 60  # a whole UTC minute (epoch seconds)
TABLE = {"TableName": "readings"}


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cloudwatch():
    exact_dimension_statistics()
    indexed_metric_data()
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def stats(cloudwatch, metric: str, dimensions: dict[str, str], start: float, end: float, namespace="AWS/DynamoDB"):
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=datetime.fromtimestamp(start, UTC),
        EndTime=datetime.fromtimestamp(end, UTC),
        Period=60,
        Statistics=["Sum", "Average", "Maximum", "Minimum", "SampleCount"],
    )
    return sorted(answer["Datapoints"], key=lambda d: d["Timestamp"])


def accumulator(clock) -> MetricAccumulator:
    return MetricAccumulator(sink=MotoSink(), clock=clock)


def test_a_completed_minute_answers_sum_average_maximum_and_sample_count(cloudwatch):
    clock = Clock(T0 + 5)
    acc = accumulator(clock)
    for units in (1, 2, 3, 10):
        acc.record("AWS/DynamoDB", "ConsumedWriteCapacityUnits", TABLE, units, "Count", region=REGION)
    assert acc.flush() == 0, "the minute is not over yet: nothing is published"
    clock.now = T0 + MINUTE_S + 1
    assert acc.flush() == 1

    [point] = stats(cloudwatch, "ConsumedWriteCapacityUnits", TABLE, T0 - 300, T0 + 300)
    assert point["Timestamp"] == datetime.fromtimestamp(T0, UTC)
    assert (point["Sum"], point["SampleCount"], point["Average"], point["Maximum"], point["Minimum"]) == (
        16.0,
        4.0,
        4.0,
        10.0,
        1.0,
    )
    assert point["Unit"] == "Count"


def test_each_minute_and_each_dimension_set_is_its_own_datapoint(cloudwatch):
    clock = Clock(T0 + 3 * MINUTE_S)
    acc = accumulator(clock)
    index = {"TableName": "readings", "GlobalSecondaryIndexName": "by-day"}
    acc.record("AWS/DynamoDB", "ConsumedWriteCapacityUnits", TABLE, 2, "Count", at=T0 + 59.9, region=REGION)
    acc.record("AWS/DynamoDB", "ConsumedWriteCapacityUnits", TABLE, 5, "Count", at=T0 + 60.0, region=REGION)
    acc.record("AWS/DynamoDB", "ConsumedWriteCapacityUnits", index, 7, "Count", at=T0 + 61, region=REGION)
    acc.flush()

    table_points = stats(cloudwatch, "ConsumedWriteCapacityUnits", TABLE, T0, T0 + 600)
    assert [(p["Timestamp"].timestamp(), p["Sum"]) for p in table_points] == [(T0, 2.0), (T0 + 60, 5.0)]
    index_points = stats(cloudwatch, "ConsumedWriteCapacityUnits", index, T0, T0 + 600)
    assert [p["Sum"] for p in index_points] == [7.0]


def test_a_minute_without_traffic_publishes_no_datapoint(cloudwatch):
    clock = Clock(T0 + 10 * MINUTE_S)
    acc = accumulator(clock)
    acc.record("AWS/DynamoDB", "WriteThrottleEvents", TABLE, 1, "Count", at=T0, region=REGION)
    acc.record("AWS/DynamoDB", "WriteThrottleEvents", TABLE, 1, "Count", at=T0 + 5 * MINUTE_S, region=REGION)
    acc.flush()
    points = stats(cloudwatch, "WriteThrottleEvents", TABLE, T0, T0 + 600)
    assert [p["Timestamp"].timestamp() for p in points] == [T0, T0 + 5 * MINUTE_S]


def test_get_metric_data_answers_the_published_minutes(cloudwatch):
    clock = Clock(T0 + 2 * MINUTE_S)
    acc = accumulator(clock)
    for _ in range(3):
        acc.record("AWS/DynamoDB", "ConsumedReadCapacityUnits", TABLE, 0.5, "Count", at=T0 + 1, region=REGION)
    acc.flush()
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "rcu",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/DynamoDB",
                        "MetricName": "ConsumedReadCapacityUnits",
                        "Dimensions": [{"Name": "TableName", "Value": "readings"}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=datetime.fromtimestamp(T0, UTC),
        EndTime=datetime.fromtimestamp(T0 + 120, UTC),
    )
    [result] = answer["MetricDataResults"]
    assert result["Values"] == [1.5]


def test_a_forced_flush_mid_minute_adds_up_to_one_minute(cloudwatch):
    clock = Clock(T0 + 10)
    acc = accumulator(clock)
    acc.record("AWS/DynamoDB", "ConsumedWriteCapacityUnits", TABLE, 4, "Count", region=REGION)
    assert acc.flush(include_current=True) == 1
    clock.now = T0 + 40
    acc.record("AWS/DynamoDB", "ConsumedWriteCapacityUnits", TABLE, 1, "Count", region=REGION)
    clock.now = T0 + 61
    acc.flush()
    [point] = stats(cloudwatch, "ConsumedWriteCapacityUnits", TABLE, T0, T0 + 300)
    assert (point["Sum"], point["SampleCount"], point["Maximum"], point["Minimum"]) == (5.0, 2.0, 4.0, 1.0)


def test_a_gauge_is_one_datapoint_per_minute_its_last_sample_even_with_forced_flushes(cloudwatch):
    clock = Clock(T0 + 10)
    acc = accumulator(clock)
    depth = {"now": 3}
    queue = {"QueueName": "q"}

    def sampler(minute: int) -> None:
        acc.minute_value("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue, depth["now"], "Count", at=minute,
                         region=REGION)  # fmt: skip

    acc.add_sampler(sampler)
    acc.flush(include_current=True)  # a test looks at the minute T0 early: depth 3
    depth["now"] = 7
    clock.now = T0 + 50
    acc.flush(include_current=True)  # and again: the same datapoint now says 7
    depth["now"] = 2
    clock.now = T0 + 59
    acc.flush()  # the flusher's last tick in T0 samples it once more: 2, the minute's state at its end
    clock.now = T0 + 61
    acc.flush()  # T0 is over; T0 + 60 is being sampled, not yet published
    points = stats(cloudwatch, "ApproximateNumberOfMessagesVisible", queue, T0 - 60, T0 + 300, "AWS/SQS")
    assert [(p["Timestamp"].timestamp(), p["SampleCount"], p["Maximum"]) for p in points] == [(T0, 1.0, 2.0)]
    clock.now = T0 + 121
    acc.flush()
    points = stats(cloudwatch, "ApproximateNumberOfMessagesVisible", queue, T0 - 60, T0 + 300, "AWS/SQS")
    assert [(p["Timestamp"].timestamp(), p["SampleCount"]) for p in points] == [(T0, 1.0), (T0 + 60, 1.0)]


def test_a_minute_count_adds_up_to_one_datapoint(cloudwatch):
    clock = Clock(T0 + 1)
    acc = accumulator(clock)
    queue = {"QueueName": "q"}
    for n in (4, 1):
        acc.minute_value("AWS/SQS", "NumberOfMessagesSent", queue, n, "Count", add=True, region=REGION)
    acc.flush(include_current=True)
    acc.minute_value("AWS/SQS", "NumberOfMessagesSent", queue, 5, "Count", add=True, region=REGION)
    clock.now = T0 + 61
    acc.flush()
    [point] = stats(cloudwatch, "NumberOfMessagesSent", queue, T0, T0 + 120, "AWS/SQS")
    assert (point["Sum"], point["SampleCount"]) == (10.0, 1.0)


def test_concurrent_records_lose_nothing(cloudwatch):
    clock = Clock(T0 + 1)
    acc = accumulator(clock)
    threads_n, per_thread = 8, 2_000

    def writer():
        for _ in range(per_thread):
            acc.record("AWS/DynamoDB", "ConsumedWriteCapacityUnits", TABLE, 1, "Count", region=REGION)

    threads = [threading.Thread(target=writer) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    clock.now = T0 + 61
    acc.flush()
    [point] = stats(cloudwatch, "ConsumedWriteCapacityUnits", TABLE, T0, T0 + 120)
    assert point["Sum"] == point["SampleCount"] == threads_n * per_thread


def test_a_failing_sink_keeps_the_minute_for_the_next_flush():
    published: list = []
    failures = [RuntimeError("backend gone")]

    def sink(batch):
        if failures:
            raise failures.pop()
        published.extend(batch)

    clock = Clock(T0 + 1)
    acc = MetricAccumulator(sink=sink, clock=clock)
    acc.record("AWS/DynamoDB", "ThrottledRequests", TABLE, 1, "Count")
    clock.now = T0 + 61
    assert acc.flush() == 0
    acc.record("AWS/DynamoDB", "ThrottledRequests", TABLE, 1, "Count", at=T0 + 2)  # late, same minute
    assert acc.flush() == 1
    [item] = published
    assert (item.minute, item.stats.sum, item.stats.sample_count) == (T0, 2.0, 2.0)


def test_records_while_disabled_are_not_kept():
    clock = Clock(T0 + 1)
    acc = MetricAccumulator(sink=lambda batch: None, clock=clock)
    acc.enabled = False
    acc.record("AWS/DynamoDB", "ThrottledRequests", TABLE, 1, "Count")
    assert acc.pending() == {}


def test_get_metric_data_buckets_periods_from_the_start_time_as_cloudwatch_does(cloudwatch):
    clock = Clock(T0 + 10 * MINUTE_S)
    acc = accumulator(clock)
    for at, units in ((T0 + 30, 1), (T0 + 90, 2), (T0 + 95, 4)):
        acc.record("AWS/DynamoDB", "ConsumedWriteCapacityUnits", TABLE, units, "Count", at=at, region=REGION)
    acc.record("AWS/SQS", "ConsumedWriteCapacityUnits", TABLE, 100, "Count", at=T0 + 30, region=REGION)  # not ours
    acc.flush()
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "w",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/DynamoDB",
                        "MetricName": "ConsumedWriteCapacityUnits",
                        "Dimensions": [{"Name": "TableName", "Value": "readings"}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=datetime.fromtimestamp(T0 - 20, UTC),  # periods [T0-20, T0+40), [T0+40, T0+100), ...
        EndTime=datetime.fromtimestamp(T0 + 300, UTC),
        ScanBy="TimestampAscending",
    )
    [result] = answer["MetricDataResults"]
    # minutes are stamped at their start: T0 (1) falls in the first period, T0+60 (2 + 4) in the second
    assert [t.timestamp() for t in result["Timestamps"]] == [T0 - 20, T0 + 40]
    assert result["Values"] == [1.0, 6.0]
