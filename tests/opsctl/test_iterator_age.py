"""iterator-age reads seeded CloudWatch metrics (the real API through moto) and turns them into the
levels and exit codes a monitoring plugin would give, with time to data loss and a lint of each mapping."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from opsctl.core import metrics
from opsctl.stream import iterator_age as ia

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
WINDOW = dt.timedelta(minutes=15)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("h.py", "def handler(e, c):\n    return None\n")
    return buf.getvalue()


@pytest.fixture
def aws():
    with mock_aws():
        region = "us-east-1"
        k, lam, cw, iam, sqs = (
            boto3.client(s, region_name=region) for s in ("kinesis", "lambda", "cloudwatch", "iam", "sqs")
        )
        k.create_stream(StreamName="readings", ShardCount=2)
        arn = k.describe_stream_summary(StreamName="readings")["StreamDescriptionSummary"]["StreamARN"]
        role = iam.create_role(
            RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )["Role"]["Arn"]
        dlq = sqs.get_queue_attributes(
            QueueUrl=sqs.create_queue(QueueName="failures")["QueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for fn in ("ingest", "careless"):
            lam.create_function(
                FunctionName=fn, Runtime="python3.12", Role=role, Handler="h.handler", Code={"ZipFile": _zip()}
            )
        lam.create_event_source_mapping(
            EventSourceArn=arn,
            FunctionName="ingest",
            StartingPosition="TRIM_HORIZON",
            BatchSize=100,
            BisectBatchOnFunctionError=True,
            MaximumRetryAttempts=3,
            MaximumRecordAgeInSeconds=3600,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            DestinationConfig={"OnFailure": {"Destination": dlq}},
        )
        yield {"kinesis": k, "lambda_client": lam, "cloudwatch": cw, "arn": arn}


def _seed(cw, namespace, name, dims, values, unit="Milliseconds"):
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Value": v,
                "Unit": unit,
                "Timestamp": NOW - dt.timedelta(minutes=len(values) - i),
            }
            for i, v in enumerate(values)
        ],
    )


def _check(aws, warn=60_000, crit=600_000):
    return ia.check(
        kinesis=aws["kinesis"],
        lambda_client=aws["lambda_client"],
        cloudwatch=aws["cloudwatch"],
        stream="readings",
        window=WINDOW,
        warn_ms=warn,
        crit_ms=crit,
        now=NOW,
    )


@pytest.mark.parametrize(
    "ages,level",
    [([100, 2_000, 500], ia.Level.OK), ([100, 90_000, 500], ia.Level.WARNING), ([700_000, 10], ia.Level.CRITICAL)],
)
def test_level_follows_the_max_iterator_age_in_the_window(aws, ages, level):
    _seed(aws["cloudwatch"], "AWS/Lambda", "IteratorAge", {"FunctionName": "ingest"}, ages)
    report = _check(aws)
    assert report.level == level and int(report.level) == {"OK": 0, "WARNING": 1, "CRITICAL": 2}[level.name]
    (row,) = report.consumers
    assert row.iterator_age_ms == max(ages)
    # The mapping skips records older than 3,600 s before the 24 h retention would drop them.
    assert row.loss_by == "maximum record age" and row.time_to_loss_ms == 3_600_000 - max(ages)


def test_catch_up_is_estimated_from_incoming_and_processed_rates(aws):
    cw = aws["cloudwatch"]
    _seed(cw, "AWS/Lambda", "IteratorAge", {"FunctionName": "ingest"}, [30_000])
    _seed(cw, "AWS/Kinesis", "IncomingRecords", {"StreamName": "readings"}, [900] * 10, unit="Count")  # 9,000 in 15 min
    _seed(cw, "TelemetryPipeline", "RecordsIn", {"FunctionName": "ingest"}, [1800] * 10, unit="Count")  # twice as fast
    (row,) = _check(aws).consumers
    assert row.processed_per_s == pytest.approx(18_000 / 900)
    # backlog = 30 s × 10 rec/s = 300 records, drained at 20 − 10 = 10 rec/s → 30 s
    assert row.catch_up_s == pytest.approx(30.0) and not row.falling_behind


def test_falling_behind_is_flagged_with_a_parallelization_hint(aws):
    cw = aws["cloudwatch"]
    _seed(cw, "AWS/Lambda", "IteratorAge", {"FunctionName": "ingest"}, [30_000, 60_000])
    _seed(cw, "AWS/Kinesis", "IncomingRecords", {"StreamName": "readings"}, [900] * 10, unit="Count")
    _seed(cw, "TelemetryPipeline", "RecordsIn", {"FunctionName": "ingest"}, [300] * 10, unit="Count")
    (row,) = _check(aws).consumers
    assert row.falling_behind and row.catch_up_s is None
    assert any("parallelization factor 1" in item for item in row.lint)


def test_records_arriving_with_no_consumer_metrics_is_unknown(aws):
    _seed(aws["cloudwatch"], "AWS/Kinesis", "IncomingRecords", {"StreamName": "readings"}, [50], unit="Count")
    report = _check(aws)
    assert report.level == ia.Level.UNKNOWN and int(report.level) == 3
    assert "no IteratorAge" in report.consumers[0].reason


def test_an_idle_stream_is_ok(aws):
    assert _check(aws).level == ia.Level.OK


class _Broken:
    def __init__(self, client):
        self._client = client

    def get_metric_data(self, **_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "GetMetricData")

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_unreadable_metrics_are_unknown_not_a_crash(aws):
    report = ia.check(
        kinesis=aws["kinesis"],
        lambda_client=aws["lambda_client"],
        cloudwatch=_Broken(aws["cloudwatch"]),
        stream="readings",
        window=WINDOW,
        warn_ms=1,
        crit_ms=2,
        now=NOW,
    )
    assert report.level == ia.Level.UNKNOWN and "AccessDenied" in report.consumers[0].reason


def test_critical_outranks_unknown_across_consumers(aws):
    aws["lambda_client"].create_event_source_mapping(
        EventSourceArn=aws["arn"], FunctionName="careless", StartingPosition="LATEST"
    )
    _seed(aws["cloudwatch"], "AWS/Lambda", "IteratorAge", {"FunctionName": "ingest"}, [900_000])
    _seed(aws["cloudwatch"], "AWS/Kinesis", "IncomingRecords", {"StreamName": "readings"}, [50], unit="Count")
    report = _check(aws)
    assert {c.consumer.function_name: c.level for c in report.consumers} == {
        "ingest": ia.Level.CRITICAL,
        "careless": ia.Level.UNKNOWN,
    }
    assert report.level == ia.Level.CRITICAL


def test_lint_names_what_can_block_or_lose_data(aws):
    aws["lambda_client"].create_event_source_mapping(
        EventSourceArn=aws["arn"], FunctionName="careless", StartingPosition="LATEST"
    )
    rows = {c.consumer.function_name: c.lint for c in _check(aws).consumers}
    careless = " | ".join(rows["careless"])
    for fragment in (
        "infinite retries and no on-failure destination",
        "no BisectBatchOnFunctionError",
        "no ReportBatchItemFailures",
        "≥ retention",
    ):
        assert fragment in careless
    assert rows["ingest"] == []


def test_warn_above_crit_is_refused(aws):
    from opsctl.cli.errors import error_line
    from opsctl.core.errors import InvalidArgument

    with pytest.raises(InvalidArgument) as exc:
        _check(aws, warn=10, crit=5)
    # the library names its parameters; the CLI says them as the flags a user typed
    assert exc.value.arguments == ("warn_ms", "crit_ms") and str(exc.value) == "warn_ms (10) is above crit_ms (5)"
    assert error_line(exc.value) == "--warn-ms (10) is above --crit-ms (5)"


def test_two_hundred_consumers_take_one_get_metric_data_call(aws):
    queries = [
        metrics.MetricQuery(
            metrics.query_id("age", str(i)), "AWS/Lambda", "IteratorAge", (("FunctionName", f"f{i}"),), "Maximum"
        )
        for i in range(200)
    ]
    queries += [
        metrics.MetricQuery(
            metrics.query_id("done", str(i)), "TelemetryPipeline", "RecordsIn", (("FunctionName", f"f{i}"),), "Sum"
        )
        for i in range(200)
    ]
    _seed(aws["cloudwatch"], "AWS/Lambda", "IteratorAge", {"FunctionName": "f7"}, [123])
    res = metrics.fetch(aws["cloudwatch"], queries, NOW - WINDOW, NOW)
    assert res.calls == 1 and res.max("q_age_7") == 123
    more = queries + queries[:150]  # 550 queries need a second call
    assert (
        metrics.fetch(
            aws["cloudwatch"],
            [metrics.MetricQuery(f"x{i}", q.namespace, q.name, q.dimensions, q.stat) for i, q in enumerate(more)],
            NOW - WINDOW,
            NOW,
        ).calls
        == 2
    )


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172_800)])
def test_window_parses(text, seconds):
    assert metrics.parse_window(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["15", "m", "0m", "1w", "-5m"])
def test_bad_window_is_one_clear_error(text):
    from opsctl.cli.errors import error_line
    from opsctl.core.errors import InvalidArgument

    with pytest.raises(InvalidArgument) as exc:
        metrics.parse_window(text)
    assert error_line(exc.value).startswith(f"bad --window {text!r}") and "15m" in error_line(exc.value)


@pytest.mark.parametrize(
    "ms,text",
    [
        (None, "n/a"),
        (5, "5 ms"),
        (1984, "1.9 s"),
        (59_999, "59.9 s"),
        (60_000, "1 min 00 s"),
        (3_598_000, "59 min 58 s"),
        (3_600_000, "1 h 00 min"),
        (604_800_000, "168 h 00 min"),
    ],
)
def test_durations_read_the_way_people_read_them(ms, text):
    from opsctl.cli.fmt import duration_ms as _ms

    assert _ms(ms) == text


def test_a_reading_says_how_old_it_is_and_an_old_one_is_marked_stale(aws):
    cw = aws["cloudwatch"]
    _seed(cw, "AWS/Lambda", "IteratorAge", {"FunctionName": "ingest"}, [90_000])
    (fresh,) = _check(aws).consumers
    assert not fresh.stale and fresh.reading_age_s is not None and fresh.reading_age_s <= 120
    assert fresh.to_dict()["latest_datapoint_at"] is not None


def test_a_consumer_that_stopped_ten_minutes_ago_is_not_shown_as_current(aws):
    cw = aws["cloudwatch"]
    # one datapoint, ten minutes before the end of the window, and nothing since: the consumer is not invoked
    cw.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "IteratorAge",
                "Dimensions": [{"Name": "FunctionName", "Value": "ingest"}],
                "Value": 90_000,
                "Unit": "Milliseconds",
                "Timestamp": NOW - dt.timedelta(minutes=10),
            }
        ],
    )
    (row,) = _check(aws).consumers
    assert row.stale and row.reading_age_s >= 9 * 60
    assert "stale" in row.reason and row.to_dict()["stale"] is True


def _observation(open_shards: int, latest_age_ms: float):
    from capacity_report import stream as streams

    return streams.StreamObservation(
        stream="readings",
        arn="arn:aws:kinesis:us-east-1:123456789012:stream/readings",
        mode="PROVISIONED",
        open_shards=open_shards,
        consumers=[streams.StreamConsumer("ingest", batch_size=100, parallelization_factor=1)],
        max_bytes_per_min=60 * 10_000,  # 10 KB/s: one shard is plenty by the write limits
        max_records_per_min=60 * 50,
        total_records=60 * 50 * 60,
        total_bytes=60 * 10_000 * 60,
        durations_ms={"ingest": 40.0},
        series={"iterator_age_ms:ingest": [(NOW - dt.timedelta(minutes=2), 0.0), (NOW, latest_age_ms)]},
    )


def test_a_consumer_that_is_behind_is_never_advised_fewer_shards():
    from capacity_report import stream as streams

    behind = streams.recommend(_observation(open_shards=4, latest_age_ms=600_000), headroom=0.7)
    assert behind.target == 4 and behind.held_because and "ingest is 600 s behind" in behind.held_because[0]
    caught_up = streams.recommend(_observation(open_shards=4, latest_age_ms=500), headroom=0.7)
    assert caught_up.target == 1 and not caught_up.held_because
