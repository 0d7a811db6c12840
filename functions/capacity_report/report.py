"""The capacity report as plain data: per resource utilisation, throttles, lag, queue depth, cost and
recommendations. Built the same way by `opsctl report` and the scheduled `capacity_report` function."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from capacity_report import metrics, tables
from capacity_report import prices as price_file
from capacity_report import stream as streams

MAX_CHART_POINTS = 240  # points per series kept in the report (the busiest value of each bucket)
DEFAULT_HEADROOM = 0.7  # share of a shard's write limits the recommended count fills at the busiest minute


@dataclass
class Scope:
    """What to report on: the environment's resources, from Terraform outputs or the function's environment."""

    environment: str
    tables: list[str]
    stream: str | None = None
    queues: dict[str, str] = field(default_factory=dict)  # label -> queue URL
    headroom: float = DEFAULT_HEADROOM
    target_utilization_pct: float | None = None  # None: the auto scaling target, else 70 %


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def downsample(points: list[tuple[dt.datetime, float]], limit: int = MAX_CHART_POINTS) -> list[list]:
    """At most `limit` [iso time, value] pairs, each the largest value of its bucket (peaks survive)."""
    points = sorted(points, key=lambda p: p[0])
    if len(points) > limit:
        size = -(-len(points) // limit)
        points = [max(points[i : i + size], key=lambda p: p[1]) for i in range(0, len(points), size)]
    return [[_iso(t), round(float(v), 3)] for t, v in points]


def _safe(notes: list[str], what: str, fn: Callable):
    try:
        return fn()
    except Exception as exc:  # one unreadable resource must not hide the others; the error is reported
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, (BotoCoreError, ClientError)):
            notes.append(f"{what}: {exc}")
            return None
        raise


def queue_depths(sqs, cloudwatch, queues: dict[str, str], start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Messages waiting now (GetQueueAttributes) and over the window (CloudWatch ApproximateNumberOfMessagesVisible)."""
    names = {label: url.rstrip("/").rsplit("/", 1)[-1] for label, url in queues.items()}
    qs = [
        metrics.MetricQuery(
            metrics.query_id(label), "AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", n),), "Maximum"
        )
        for label, n in names.items()
    ]
    res = metrics.fetch(cloudwatch, qs, start, end) if qs else metrics.MetricResults()
    out = []
    for label, url in queues.items():
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        pts = res.points(metrics.query_id(label))
        out.append(
            {
                "resource": names[label],
                "label": label,
                "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "max_visible_in_window": max([v for _, v in pts] + [int(attrs.get("ApproximateNumberOfMessages", 0))]),
                "series": {"depth": downsample(pts)},
            }
        )
    return out


def build(
    client: Callable[[str], object], scope: Scope, *, window: dt.timedelta, now: dt.datetime, prices: dict
) -> dict:
    """The whole report. `client(name)` returns a boto3 client (opsctl's AwsTarget.client, or the function's cache)."""
    start, end = now - window, now
    notes: list[str] = []
    cw = client("cloudwatch")
    report: dict = {
        "kind": "capacity-report",
        "version": 1,
        "environment": scope.environment,
        "generated_at": _iso(now),
        "window": {"start": _iso(start), "end": _iso(end), "seconds": int(window.total_seconds())},
        "prices": {k: prices.get(k) for k in ("region", "date", "source", "currency", "file")},
        "tables": [],
        "stream": None,
        "lambda": None,
        "queues": [],
        "recommendations": [],
        "warnings": [],
        "notes": notes,
    }
    region = getattr(getattr(cw, "meta", None), "region_name", None)
    report["warnings"] += price_file.warnings(prices, now=now, region=region)
    for name in scope.tables:
        found = _safe(
            notes,
            f"table {name}",
            lambda n=name: tables.observe(client("dynamodb"), client("application-autoscaling"), cw, n, start, end),
        )
        if not found:
            continue
        caps, more = found
        notes.extend(more)
        for cap in caps:
            rec = tables.recommend(cap, prices, now, target_pct=scope.target_utilization_pct)
            rec["series"] = {d: downsample(cap.usage[d].series) for d in tables.DIMENSIONS}
            report["tables"].append(rec)
            if rec["action"] != "keep":
                report["recommendations"].append(
                    f"{rec['resource']}: {rec['action'].replace('_', ' ')} "
                    + ", ".join(f"{k}={v}" for k, v in rec["changes"].items())
                )
            report["warnings"].extend(rec["warnings"])
    if scope.stream:
        stream_name = scope.stream
        obs = _safe(
            notes,
            f"stream {stream_name}",
            lambda: streams.observe(client("kinesis"), client("lambda"), cw, stream_name, start, end),
        )
        if obs:
            stream_rec = streams.recommend(obs, scope.headroom)
            report["stream"] = {
                "resource": obs.stream,
                "mode": obs.mode,
                "open_shards": obs.open_shards,
                "records_in_window": int(obs.total_records),
                "bytes_in_window": int(obs.total_bytes),
                "peak_utilization_pct": round(
                    100
                    * max(
                        obs.max_records_per_min / 60 / (streams.SHARD_WRITE_RECORDS_PER_S * max(obs.open_shards, 1)),
                        obs.max_bytes_per_min / 60 / (streams.SHARD_WRITE_BYTES_PER_S * max(obs.open_shards, 1)),
                    ),
                    1,
                ),
                "capacity_records_per_s": streams.SHARD_WRITE_RECORDS_PER_S * obs.open_shards,
                "recommendation": stream_rec.to_dict(),
                "monthly_cost_shards": round(obs.open_shards * prices["kinesis"]["shard_per_hour"] * 730, 2)
                if obs.mode == "PROVISIONED"
                else None,
                "series": {"records_per_s": downsample(obs.series["records_per_s"])},
                "consumers": [
                    {
                        "resource": c.function_name,
                        "batch_size": c.batch_size,
                        "parallelization_factor": c.parallelization_factor,
                        "max_iterator_age_ms": max(
                            (v for _, v in obs.series[f"iterator_age_ms:{c.function_name}"]), default=None
                        ),
                        "series": {"iterator_age_ms": downsample(obs.series[f"iterator_age_ms:{c.function_name}"])},
                    }
                    for c in obs.consumers
                ],
            }
            if obs.mode == "PROVISIONED" and stream_rec.target != stream_rec.current:
                report["recommendations"].append(
                    f"stream {obs.stream}: reshard {stream_rec.current} → {stream_rec.target} shards "
                    f"(`opsctl reshard --to {stream_rec.target}`)"
                )
            conc = streams.lambda_concurrency(client("lambda"), obs.consumers, obs.open_shards, stream_rec.target)
            report["lambda"] = conc
            for f in conc["functions"]:
                report["warnings"].extend(f["warnings"])
    if scope.queues:
        q = _safe(notes, "queues", lambda: queue_depths(client("sqs"), cw, scope.queues, start, end))
        report["queues"] = q or []
        for x in report["queues"]:
            # only dead-letter and on-failure queues hold failed work; a live work queue with messages is working
            if x["visible"] and ("dlq" in x["label"] or "failure" in x["label"]):
                report["warnings"].append(
                    f"queue {x['resource']} holds {x['visible']} messages of failed work to replay "
                    "(`opsctl dlq list`, then `opsctl replay-dlq`)"
                )
    return report


def summary(report: dict, location: str | None = None) -> tuple[str, str]:
    """(subject ≤100 characters, a few lines of text) for the alerts topic."""
    recs, warns = report["recommendations"], report["warnings"]
    throttled = sum(d["throttled"] for t in report["tables"] for d in t["dimensions"].values())
    subject = f"capacity report {report['environment']}: {len(recs)} recommendation(s), {len(warns)} warning(s)"[:100]
    lines = [f"Capacity report for {report['environment']}, {report['window']['start']} to {report['window']['end']}."]
    for t in report["tables"]:
        w = t["dimensions"]["write"]
        lines.append(
            f"- table {t['resource']} ({t['billing_mode']}): write peak {w['peak_per_s']:g}/s, avg "
            f"{w['avg_per_s']:g}/s, "
            f"{t['decrease_quota']['left_today']} decreases left today"
        )
    if report["stream"]:
        s = report["stream"]
        lines.append(
            f"- stream {s['resource']}: {s['open_shards']} shards, peak {s['peak_utilization_pct']}% of write "
            "capacity, "
            f"recommended {s['recommendation']['target']}"
        )
    if throttled:
        lines.append(f"- {throttled:g} throttled requests in the window")
    lines += [f"* {r}" for r in recs] + [f"! {w}" for w in warns]
    if not recs:
        lines.append("No change recommended.")
    if location:
        lines.append(f"Full report: {location}")
    return subject, "\n".join(lines)
