"""Evaluate every monitor of the catalog (terraform/catalog/monitors.json) against CloudWatch, the way a
CloudWatch alarm would: an independent second opinion on real AWS, and the only opinion on the sandbox,
whose CloudWatch (moto) stores metrics but never evaluates alarms (docs/moto-gaps.md §CloudWatch).

Per monitor: the catalog's statistic and period over its last `evaluation_periods` periods (aligned to the
period, the newest one still filling), each period compared with the threshold (in the unit its key names),
missing periods treated as `treat_missing_data` says, ALARM when at least `datapoints_to_alarm` breach. A
monitor with `denominator_metric_name` is 100 x metric / denominator per period (0 while the denominator is
0), computed here from two plain MetricStat queries because moto has no metric math. All queries go in
ceil(n/500) GetMetricData calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from opsctl.core import metrics
from opsctl.monitoring import thresholds

# "$name" in a catalog dimension → the environment output that holds it (and how to get the name out of it).
# The monitors module receives the same resources (terraform/modules/pipeline/main.tf, module "monitors").
_URL_NAME = lambda url: str(url).rstrip("/").rsplit("/", 1)[-1]  # noqa: E731 - an SQS queue URL ends in its name
RESOURCE_OUTPUTS: dict[str, tuple[str, Callable[[str], str]]] = {
    "stream_name": ("stream_name", str),
    "ingest_function_name": ("ingest_function_name", str),
    "ingest_failure_queue_name": ("ingest_failure_queue_url", _URL_NAME),
    "table_name": ("table_name", str),
    "alert_function_name": ("alert_function_name", str),
    "alert_failure_queue_name": ("alert_failure_queue_url", _URL_NAME),
    "api_id": ("api_id", str),
    "api_stage_name": ("api_stage_name", str),
    "rollup_function_name": ("rollup_function_name", str),
    "rollup_queue_name": ("rollup_queue_url", _URL_NAME),
    "rollup_dlq_name": ("rollup_dlq_url", _URL_NAME),
    "report_function_name": ("capacity_report_function_name", str),
    "report_dlq_name": ("capacity_report_dlq_url", _URL_NAME),
}

UNIT_LABEL = {"ms": "ms", "seconds": "s", "count": "", "percent": "%"}
_COMPARE = {
    "GreaterThanThreshold": (lambda v, t: v > t, ">"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "≥"),
    "LessThanThreshold": (lambda v, t: v < t, "<"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "≤"),
}
SEVERITY_EXIT = {"warning": 1, "critical": 2}
UNREADABLE = 3


def resolve_resources(outputs: dict) -> dict[str, str]:
    """The catalog's "$name" → value for every resource this environment's outputs have."""
    found = {}
    for name, (output, convert) in RESOURCE_OUTPUTS.items():
        value = outputs.get(name) or outputs.get(output)
        if value not in (None, ""):
            found[name] = value if name in outputs else convert(value)
    return found


def dimensions(monitor: dict, resources: dict[str, str]) -> tuple[tuple[str, str], ...] | None:
    """The monitor's dimensions with "$name" resolved, or None when the environment lacks one (no alarm then)."""
    out = []
    for key, value in monitor["dimensions"].items():
        if str(value).startswith("$"):
            value = resources.get(value[1:])
            if value is None:
                return None
        out.append((key, str(value)))
    return tuple(out)


@dataclass
class Evaluation:
    id: str
    title: str
    severity: str
    runbook: str
    state: str  # OK, ALARM, INSUFFICIENT_DATA
    comparison: str
    threshold: float
    unit: str  # the threshold key's unit suffix: ms, seconds, count, percent
    statistic: str
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str
    dimensions: dict[str, str]
    values: list[float | None]  # one per evaluated period, oldest first; None = no datapoint
    breaching: int
    value: float | None  # the worst evaluated value (max for >, min for <)
    reason: str
    cloudwatch_state: str | None = None  # the CloudWatch alarm's own state, when the alarm exists
    ratio: bool = False

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "runbook": self.runbook,
            "state": self.state,
            "value": _round(self.value),
            "threshold": self.threshold,
            "unit": self.unit,
            "comparison": self.comparison,
            "statistic": self.statistic,
            "period_seconds": self.period_s,
            "evaluation_periods": self.evaluation_periods,
            "datapoints_to_alarm": self.datapoints_to_alarm,
            "treat_missing_data": self.treat_missing_data,
            "breaching_periods": self.breaching,
            "values": [_round(v) for v in self.values],
            "dimensions": self.dimensions,
            "ratio_percent": self.ratio,
            "reason": self.reason,
            "cloudwatch_alarm_state": self.cloudwatch_state,
        }


@dataclass
class MonitorsReport:
    evaluated_at: dt.datetime
    monitors: list[Evaluation]
    not_applicable: list[str]  # catalog ids whose resources this environment does not have
    get_metric_data_calls: int
    exit_code: int
    error: str | None = None
    runbook_base_url: str = ""
    extra: dict = field(default_factory=dict)

    def in_alarm(self) -> list[Evaluation]:
        return [m for m in self.monitors if m.state == "ALARM"]

    def to_dict(self) -> dict:
        return {
            "evaluated_at": self.evaluated_at.isoformat(),
            "exit_code": self.exit_code,
            "error": self.error,
            "in_alarm": [m.id for m in self.in_alarm()],
            "monitors": [m.to_dict() for m in self.monitors],
            "not_applicable": self.not_applicable,
            "get_metric_data_calls": self.get_metric_data_calls,
        }


def _round(v):
    return None if v is None else round(v, 3)


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    label = UNIT_LABEL.get(unit, unit)
    text = f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {label}".rstrip() if label != "%" else f"{text} %"


def judge(
    values: list[float | None], *, comparison: str, threshold: float, datapoints_to_alarm: int, treat_missing_data: str
) -> tuple[str, int]:
    """(state, breaching periods) of one monitor from its per-period values, oldest first (None = missing)."""
    compare = _COMPARE[comparison][0]
    present = [v for v in values if v is not None]
    breaching = sum(1 for v in present if compare(v, threshold))
    if treat_missing_data == "breaching":
        breaching += len(values) - len(present)
    if breaching >= datapoints_to_alarm:
        return "ALARM", breaching
    if not present and treat_missing_data in ("missing", "ignore"):
        return "INSUFFICIENT_DATA", breaching
    return "OK", breaching


def _periods(now: dt.datetime, period_s: int, n: int) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the last n periods aligned to period_s, the newest one containing `now`."""
    epoch = int(now.timestamp())
    end = (epoch // period_s + 1) * period_s
    return (
        dt.datetime.fromtimestamp(end - n * period_s, dt.UTC),
        dt.datetime.fromtimestamp(end, dt.UTC),
    )


def _bucket(points, start: dt.datetime, period_s: int, n: int) -> list[float | None]:
    out: list[float | None] = [None] * n
    for ts, v in points:
        i = int((ts.timestamp() - start.timestamp()) // period_s)
        if 0 <= i < n:
            out[i] = v if out[i] is None else max(out[i], v)  # one datapoint per period; defensive merge
    return out


def evaluate(
    cloudwatch,
    outputs: dict,
    *,
    now: dt.datetime | None = None,
    only: list[str] | None = None,
    catalog: dict[str, dict] | None = None,
) -> MonitorsReport:
    """Every applicable catalog monitor's state from CloudWatch metrics. Unreadable metrics give exit code 3."""
    from botocore.exceptions import BotoCoreError, ClientError

    now = now or dt.datetime.now(dt.UTC)
    catalog = catalog or thresholds.monitors()
    if only:
        unknown = sorted(set(only) - set(catalog))
        if unknown:
            from opsctl.core.errors import OpsError

            raise OpsError(f"no monitor {unknown[0]!r} in the catalog", hint="`opsctl monitors` lists them all")
        catalog = {k: v for k, v in catalog.items() if k in only}
    resources = resolve_resources(outputs)
    plans, skipped = [], []
    for mid, m in sorted(catalog.items()):
        dims = dimensions(m, resources)
        if dims is None:
            skipped.append(mid)
            continue
        start, end = _periods(now, int(m["period_seconds"]), int(m["evaluation_periods"]))
        names = [m["metric_name"]] + ([m["denominator_metric_name"]] if m.get("denominator_metric_name") else [])
        queries = [
            metrics.MetricQuery(
                metrics.query_id(mid, f"m{i + 1}").lower(),
                m["namespace"],
                name,
                dims,
                m["statistic"],
                int(m["period_seconds"]),
            )
            for i, name in enumerate(names)
        ]
        plans.append((mid, m, dims, start, end, queries))
    # One GetMetricData batch per distinct window (monitors of the same period and length share one).
    windows: dict[tuple, list] = {}
    for plan in plans:
        windows.setdefault((plan[3], plan[4]), []).extend(plan[5])
    results = metrics.MetricResults()
    try:
        for (start, end), queries in windows.items():
            got = metrics.fetch(cloudwatch, queries, start, end)
            results.series.update(got.series)
            results.calls += got.calls
    except (BotoCoreError, ClientError) as exc:
        return MonitorsReport(now, [], skipped, results.calls, UNREADABLE, error=f"metrics unreadable: {exc}")
    evaluations = []
    for mid, m, dims, start, _end, queries in plans:
        period, n = int(m["period_seconds"]), int(m["evaluation_periods"])
        value_t, unit = thresholds.threshold(m)
        series = [_bucket(results.points(q.id), start, period, n) for q in queries]
        if len(series) == 2:  # IF(m2 > 0, 100 * m1 / m2, 0), as the alarm's metric math
            values = [
                None if (a is None and b is None) else (100.0 * (a or 0) / b if b else 0.0)
                for a, b in zip(*series, strict=True)
            ]
        else:
            values = series[0]
        state, breaching = judge(
            values,
            comparison=m["comparison"],
            threshold=float(value_t),
            datapoints_to_alarm=int(m["datapoints_to_alarm"]),
            treat_missing_data=m["treat_missing_data"],
        )
        present = [v for v in values if v is not None]
        worst = (min if m["comparison"].startswith("Less") else max)(present) if present else None
        sign = _COMPARE[m["comparison"]][1]
        what = (
            f"{m['metric_name']} per {m['denominator_metric_name']} (percent)"
            if len(series) == 2
            else f"{m['metric_name']} {m['statistic']}"
        )
        reason = (
            f"{breaching} of the last {n} periods of {period} s {sign} {format_value(float(value_t), unit)} "
            f"(ALARM at {m['datapoints_to_alarm']}; missing = {m['treat_missing_data']}); {what}, worst "
            f"{format_value(worst, unit)}"
        )
        evaluations.append(
            Evaluation(
                id=mid,
                title=m["title"],
                severity=m["severity"],
                runbook=m["runbook"],
                state=state,
                comparison=m["comparison"],
                threshold=float(value_t),
                unit=unit,
                statistic=m["statistic"],
                period_s=period,
                evaluation_periods=n,
                datapoints_to_alarm=int(m["datapoints_to_alarm"]),
                treat_missing_data=m["treat_missing_data"],
                dimensions=dict(dims),
                values=values,
                breaching=breaching,
                value=worst,
                reason=reason,
                ratio=len(series) == 2,
            )
        )
    _attach_alarm_states(cloudwatch, evaluations)
    code = max((SEVERITY_EXIT.get(e.severity, 1) for e in evaluations if e.state == "ALARM"), default=0)
    return MonitorsReport(now, evaluations, skipped, results.calls, code)


def _attach_alarm_states(cloudwatch, evaluations: list[Evaluation]) -> None:
    """The CloudWatch alarm's own state next to ours (Terraform names it `<prefix>-<catalog id>`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    by_id = {e.id: e for e in evaluations}
    try:
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms", []):
                name = alarm["AlarmName"]
                for mid, e in by_id.items():
                    if name.endswith(f"-{mid}") and _alarm_dims(alarm) == e.dimensions:
                        e.cloudwatch_state = alarm.get("StateValue")
    except (BotoCoreError, ClientError):
        return  # the alarms are a bonus; the evaluation stands on the metrics


def _alarm_dims(alarm: dict) -> dict[str, str]:
    dims = alarm.get("Dimensions") or []
    if not dims:
        for q in alarm.get("Metrics") or []:
            stat = q.get("MetricStat")
            if stat:
                dims = stat["Metric"].get("Dimensions") or []
                break
    return {d["Name"]: d["Value"] for d in dims}
