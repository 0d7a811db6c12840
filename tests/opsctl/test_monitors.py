"""`opsctl monitors` evaluates the catalog's monitors against seeded CloudWatch metrics (the real API through
moto, which stores metrics but never evaluates alarms): the state a CloudWatch alarm would take for M of N
breaching periods, missing data, and ratio (metric-math) monitors computed client-side; exit codes as a
monitoring plugin."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from opsctl.monitoring import monitors as mon
from opsctl.monitoring import thresholds

# In the drill's xdist group (tests/conftest.py says why the drill needs company).
pytestmark = pytest.mark.xdist_group("drill")

# Mid-minute, so "the last 5 periods" are the 4 full minutes before and the one now filling.
NOW = dt.datetime.now(dt.UTC).replace(second=30, microsecond=0) - dt.timedelta(minutes=1)
OUTPUTS = {
    "stream_name": "readings",
    "ingest_function_name": "ingest",
    "table_name": "readings-table",
    "ingest_failure_queue_url": "http://localhost/123456789012/ingest-failures",
    "alert_function_name": "alert",
    "alert_failure_queue_url": "http://localhost/123456789012/alert-failures",
}


@pytest.fixture
def cw():
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def _seed(cw, namespace, name, dims, values_by_minutes_ago: dict[int, float], unit="Milliseconds"):
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Value": v,
                "Unit": unit,
                "Timestamp": NOW - dt.timedelta(minutes=ago),
            }
            for ago, v in values_by_minutes_ago.items()
        ],
    )


def _by_id(report):
    return {e.id: e for e in report.monitors}


def test_iterator_age_three_of_five_minutes_over_the_warning_threshold_is_alarm(cw):
    warn_ms, _ = thresholds.iterator_age_ms()
    _seed(
        cw,
        "AWS/Lambda",
        "IteratorAge",
        {"FunctionName": "ingest"},
        {4: warn_ms + 1, 2: warn_ms + 5_000, 0: warn_ms * 2, 1: 10},
    )
    report = mon.evaluate(cw, OUTPUTS, now=NOW)
    got = _by_id(report)
    warning = got["ingest_iterator_age_warning"]
    assert warning.state == "ALARM" and warning.breaching == 3
    assert warning.value == warn_ms * 2 and warning.unit == "ms" and warning.runbook == "runbooks/iterator-age.md"
    assert got["ingest_iterator_age_critical"].state == "OK"  # 5 of 5 over 600,000 ms needed
    assert report.exit_code == 1  # a warning monitor in ALARM
    assert "ingest_iterator_age_warning" in [e.id for e in report.in_alarm()]


def test_two_breaching_minutes_of_five_stay_ok_and_old_breaches_fall_out_of_the_window(cw):
    warn_ms, _ = thresholds.iterator_age_ms()
    # Three breaching minutes, but one of them 6 minutes ago: outside the 5 evaluated periods.
    _seed(cw, "AWS/Lambda", "IteratorAge", {"FunctionName": "ingest"}, {6: warn_ms * 3, 3: warn_ms * 3, 0: warn_ms * 3})
    e = _by_id(mon.evaluate(cw, OUTPUTS, now=NOW))["ingest_iterator_age_warning"]
    assert e.state == "OK" and e.breaching == 2
    assert len(e.values) == 5 and e.values[-1] == warn_ms * 3 and e.values[1] == warn_ms * 3


def test_critical_iterator_age_five_of_five_exits_2(cw):
    _, crit_ms = thresholds.iterator_age_ms()
    _seed(cw, "AWS/Lambda", "IteratorAge", {"FunctionName": "ingest"}, {i: crit_ms + 1 for i in range(5)})
    report = mon.evaluate(cw, OUTPUTS, now=NOW)
    assert _by_id(report)["ingest_iterator_age_critical"].state == "ALARM"
    assert report.exit_code == 2


def test_one_period_monitor_alarms_on_a_single_datapoint_and_missing_data_is_not_breaching(cw):
    _seed(cw, "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "ingest-failures"}, {0: 2}, unit="Count")
    got = _by_id(mon.evaluate(cw, OUTPUTS, now=NOW))
    assert got["ingest_failure_queue_not_empty"].state == "ALARM"
    assert got["ingest_failure_queue_not_empty"].dimensions == {
        "QueueName": "ingest-failures"
    }  # name from the queue URL
    assert got["alert_failure_queue_not_empty"].state == "OK"  # no data, notBreaching


def test_a_poison_burst_over_ten_quarantined_records_a_minute_alarms_and_ten_does_not(cw):
    """ingest_poison_burst reads the ingest function's own EMF metric (TelemetryPipeline RecordsQuarantined, Sum per
    minute) as the local runtime and Lambda publish it: 11 in the current minute is a burst, 10 is not."""
    _seed(cw, "TelemetryPipeline", "RecordsQuarantined", {"FunctionName": "ingest"}, {0: 11}, unit="Count")
    burst = _by_id(mon.evaluate(cw, OUTPUTS, now=NOW))["ingest_poison_burst"]
    assert (
        burst.state == "ALARM"
        and burst.value == 11
        and burst.unit == "count"
        and burst.runbook == "runbooks/poison-records.md"
    )
    # Another ingest function (another environment) with 10 in the current minute and 4 before: no burst.
    _seed(cw, "TelemetryPipeline", "RecordsQuarantined", {"FunctionName": "ingest-b"}, {0: 10, 1: 4}, unit="Count")
    quiet = _by_id(mon.evaluate(cw, {**OUTPUTS, "ingest_function_name": "ingest-b"}, now=NOW))["ingest_poison_burst"]
    assert quiet.state == "OK" and quiet.value == 10


def test_ratio_monitor_is_100_times_errors_per_invocation_per_period(cw):
    dims = {"FunctionName": "ingest"}
    # 1/10 = 10 % (over 5 %) in three minutes, 0/10 in one, and no invocations at all in one: ALARM.
    _seed(cw, "AWS/Lambda", "Invocations", dims, {4: 10, 3: 10, 2: 10, 1: 10}, unit="Count")
    _seed(cw, "AWS/Lambda", "Errors", dims, {4: 1, 3: 0, 2: 1, 1: 1}, unit="Count")
    e = _by_id(mon.evaluate(cw, OUTPUTS, now=NOW))["ingest_error_rate"]
    assert e.ratio and e.unit == "percent"
    assert e.values == [10.0, 0.0, 10.0, 10.0, None]
    assert e.state == "ALARM" and e.breaching == 3


def test_ratio_monitor_under_threshold_is_ok(cw):
    dims = {"FunctionName": "ingest"}
    _seed(cw, "AWS/Lambda", "Invocations", dims, {i: 100 for i in range(5)}, unit="Count")
    _seed(cw, "AWS/Lambda", "Errors", dims, {i: 5 for i in range(5)}, unit="Count")  # exactly 5 %: not > 5 %
    e = _by_id(mon.evaluate(cw, OUTPUTS, now=NOW))["ingest_error_rate"]
    assert e.state == "OK" and e.values == [5.0] * 5


def test_missing_data_as_breaching_and_as_missing():
    assert mon.judge(
        [None] * 26, comparison="LessThanThreshold", threshold=1, datapoints_to_alarm=26, treat_missing_data="breaching"
    ) == ("ALARM", 26)
    assert mon.judge(
        [None] * 25 + [1.0],
        comparison="LessThanThreshold",
        threshold=1,
        datapoints_to_alarm=26,
        treat_missing_data="breaching",
    ) == ("OK", 25)
    assert mon.judge(
        [None] * 5, comparison="GreaterThanThreshold", threshold=0, datapoints_to_alarm=3, treat_missing_data="missing"
    ) == ("INSUFFICIENT_DATA", 0)
    assert mon.judge(
        [None, 1.0, None],
        comparison="GreaterThanOrEqualToThreshold",
        threshold=1,
        datapoints_to_alarm=1,
        treat_missing_data="ignore",
    ) == ("ALARM", 1)


def test_only_monitors_whose_resources_exist_are_evaluated_in_one_call(cw):
    report = mon.evaluate(cw, {"stream_name": "readings"}, now=NOW)
    ids = {e.id for e in report.monitors}
    assert ids == {k for k, m in thresholds.monitors().items() if set(m["dimensions"].values()) == {"$stream_name"}}
    assert "ingest_iterator_age_warning" in report.not_applicable
    # Every catalog monitor shares a window with others: the whole evaluation takes one call per distinct window.
    windows = {
        mon._periods(NOW, m["period_seconds"], m["evaluation_periods"]) for m in thresholds.monitors().values()
    }  # (start, end): 5 minutes of 1-minute periods and one 5-minute period are the same window
    full = mon.evaluate(
        cw,
        {
            **OUTPUTS,
            "rollup_function_name": "r",
            "rollup_queue_url": "http://x/1/q",
            "rollup_dlq_url": "http://x/1/d",
            "capacity_report_function_name": "rep",
            "capacity_report_dlq_url": "http://x/1/rep-dlq",
            "api_id": "abc",
            "api_stage_name": "$default",
        },
        now=NOW,
    )
    assert not full.not_applicable and full.get_metric_data_calls == len(windows)


def test_the_cloudwatch_alarm_state_is_shown_next_to_the_evaluation(cw):
    cw.put_metric_alarm(
        AlarmName="tp-local-ingest_iterator_age_warning",
        Namespace="AWS/Lambda",
        MetricName="IteratorAge",
        Dimensions=[{"Name": "FunctionName", "Value": "ingest"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=5,
        DatapointsToAlarm=3,
        Threshold=60000,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName="tp-local-ingest_iterator_age_warning", StateValue="ALARM", StateReason="drill")
    e = _by_id(mon.evaluate(cw, OUTPUTS, now=NOW))["ingest_iterator_age_warning"]
    assert e.cloudwatch_state == "ALARM" and e.state == "OK"  # CloudWatch's word shown beside ours (no data: OK)
    assert (
        _by_id(mon.evaluate(cw, OUTPUTS, now=NOW))["ingest_iterator_age_critical"].cloudwatch_state is None
    )  # no such alarm


def test_unreadable_metrics_exit_3():
    from unittest import mock

    from botocore.exceptions import ClientError

    cw = mock.Mock()
    cw.get_metric_data.side_effect = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")
    report = mon.evaluate(cw, OUTPUTS, now=NOW)
    assert report.exit_code == 3 and "AccessDenied" in report.error


def test_cli_prints_state_threshold_with_unit_and_runbook_and_exits_like_a_plugin(cw, monkeypatch):
    from opsctl.cli import app as cli
    from opsctl.core import stack
    from opsctl.core.aws import AwsTarget

    warn_ms, _ = thresholds.iterator_age_ms()
    _seed(cw, "AWS/Lambda", "IteratorAge", {"FunctionName": "ingest"}, {2: warn_ms + 1, 1: warn_ms + 1, 0: warn_ms + 1})
    monkeypatch.setattr(mon, "evaluate", lambda c, o, only=None, _real=mon.evaluate: _real(c, o, only=only, now=NOW))
    monkeypatch.setattr(stack, "load", lambda env, **kw: stack.Stack(env, AwsTarget(region="us-east-1"), dict(OUTPUTS)))
    res = CliRunner().invoke(cli.app, ["--env", "dev", "monitors", "--monitor", "ingest_iterator_age_warning"])
    assert res.exit_code == 1, res.output
    assert "ALARM" in res.output and "60,000 ms" in res.output and "runbooks/iterator-age.md" in res.output
    res = CliRunner().invoke(cli.app, ["--env", "dev", "monitors", "--output", "json"])
    doc = json.loads(res.stdout)
    assert res.exit_code == 1 and doc["in_alarm"] == ["ingest_iterator_age_warning"] and doc["exit_code"] == 1
    res = CliRunner().invoke(cli.app, ["--env", "dev", "monitors", "--monitor", "nope"])
    assert res.exit_code != 0
