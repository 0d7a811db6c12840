"""The scheduled capacity report (Lambda handler `capacity_report.handler.handler`).

EventBridge Scheduler invokes it (daily by default) with the input Terraform sets: the schedule's ARN and
the scheduled time. It builds the same report as `opsctl report`, stores it as JSON, HTML and Markdown in
the reports bucket under a key made of the scheduled time (a retry overwrites its own objects; the bucket is
versioned), publishes a short summary to the alerts topic, and emits the metric ReportsGenerated
(namespace METRICS_NAMESPACE, dimension FunctionName) that the "no report in 26 h" alarm watches.

Environment (set by Terraform): ENVIRONMENT, TABLE_NAMES (comma-separated), STREAM_NAME, QUEUE_URLS
(label=url, comma-separated), REPORTS_BUCKET, REPORTS_PREFIX, ALERTS_TOPIC_ARN, REPORT_WINDOW (e.g. 1d),
METRICS_NAMESPACE, LOG_LEVEL; optional CAPACITY_PRICES_FILE.
AWS calls (tests/terraform/test_capacity_report_policies.py holds the policy to this list):
dynamodb:DescribeTable, application-autoscaling:DescribeScalableTargets/DescribeScalingPolicies,
cloudwatch:GetMetricData, kinesis:DescribeStreamSummary/ListShards,
lambda:ListEventSourceMappings/GetFunctionConcurrency/GetAccountSettings,
sqs:GetQueueAttributes, s3:PutObject, sns:Publish."""

from __future__ import annotations

import datetime as dt
import os
import re

from capacity_report import metrics as cw_metrics
from capacity_report import prices, render, report
from common import clients, metrics
from common.log import Logger

FORMATS = {"json": "application/json", "html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8"}
_PREFIX = re.compile(r"^([A-Za-z0-9_.=-]+/)*$")


class ConfigError(ValueError):
    """The function's environment or event is wrong: nothing was written."""


def scheduled_time(event: dict, now: dt.datetime) -> dt.datetime:
    """The report's end: the event's scheduled time (EventBridge Scheduler's <aws.scheduler.scheduled-time>, or an
    EventBridge rule's `time`), else now. A retry of the same run gets the same time, hence the same keys."""
    raw = event.get("scheduled_time") or event.get("time")
    if not raw:
        return now
    try:
        return dt.datetime.strptime(str(raw), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise ConfigError(f"scheduled_time {raw!r} is not an ISO 8601 UTC time like 2026-01-02T06:00:00Z") from None


def _region() -> str | None:
    """The function's own region (Lambda sets AWS_REGION): the report prices the stack where it runs."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def scope_from_environment(env=os.environ) -> report.Scope:
    tables = [t.strip() for t in env.get("TABLE_NAMES", "").split(",") if t.strip()]
    queues = {}
    for item in filter(None, (x.strip() for x in env.get("QUEUE_URLS", "").split(","))):
        label, sep, url = item.partition("=")
        if not sep or not url.startswith(("https://", "http://")):
            raise ConfigError(f"QUEUE_URLS entry {item!r} is not label=https://queue-url")
        queues[label] = url
    if not tables and not env.get("STREAM_NAME"):
        raise ConfigError("nothing to report on: set TABLE_NAMES and/or STREAM_NAME")
    return report.Scope(
        environment=env.get("ENVIRONMENT", "unknown"),
        tables=tables,
        stream=env.get("STREAM_NAME") or None,
        queues=queues,
    )


def object_keys(prefix: str, environment: str, end: dt.datetime) -> dict[str, str]:
    stamp = end.strftime("%Y-%m-%dT%H%M%SZ")
    return {fmt: f"{prefix}{environment}/dt={end:%Y-%m-%d}/capacity-{stamp}.{fmt}" for fmt in FORMATS}


def handler(event, context):
    log = Logger(context)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    end = scheduled_time(event if isinstance(event, dict) else {}, now)
    bucket, topic = os.environ.get("REPORTS_BUCKET"), os.environ.get("ALERTS_TOPIC_ARN")
    prefix = os.environ.get("REPORTS_PREFIX", "reports/")
    if not bucket or not topic:
        raise ConfigError("REPORTS_BUCKET and ALERTS_TOPIC_ARN must be set")
    if not _PREFIX.match(prefix):
        raise ConfigError(f"REPORTS_PREFIX {prefix!r} must be path segments ending in '/'")
    window = cw_metrics.parse_window(os.environ.get("REPORT_WINDOW", "1d"))
    scope = scope_from_environment()
    log.info(
        "building capacity report",
        environment=scope.environment,
        end=end.isoformat(),
        window_s=int(window.total_seconds()),
        schedule=(event or {}).get("schedule_arn") if isinstance(event, dict) else None,
    )
    doc = report.build(clients.client, scope, window=window, now=end, prices=prices.load(region=_region()))
    keys = object_keys(prefix, scope.environment, end)
    s3 = clients.client("s3")
    for fmt, key in keys.items():
        s3.put_object(Bucket=bucket, Key=key, Body=render.render(doc, fmt).encode(), ContentType=FORMATS[fmt])
    location = f"s3://{bucket}/{keys['html']}"
    subject, text = report.summary(doc, location)
    clients.client("sns").publish(TopicArn=topic, Subject=subject, Message=text)
    metrics.emit(
        {"ReportsGenerated": (1, "Count"), "Recommendations": (len(doc["recommendations"]), "Count")},
        function_name=getattr(context, "function_name", None),
        Environment=scope.environment,  # the property every handler's EMF line carries under this name
    )
    log.info(
        "capacity report stored and announced",
        bucket=bucket,
        keys=list(keys.values()),
        recommendations=len(doc["recommendations"]),
        warnings=len(doc["warnings"]),
    )
    return {
        "bucket": bucket,
        "keys": keys,
        "recommendations": len(doc["recommendations"]),
        "warnings": len(doc["warnings"]),
    }
