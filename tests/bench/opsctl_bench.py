"""Bench rows for the on-call commands: how many API calls they need against what a naive tool spends.

- GetMetricData calls to read iterator age and throughput of 200 consumers (ours batches ≤500 queries
  per call) against one GetMetricStatistics call per metric per consumer (what scripts usually do);
- UpdateShardCount calls planned for (from, to) pairs against stepping by 25 % of the open count (the
  step AWS's documentation suggests), with the minimum any tool can reach shown in the metric name."""

from __future__ import annotations

import datetime as dt
import math

import boto3
from moto import mock_aws

from opsctl.core import metrics
from opsctl.stream import reshard

PAIRS = [(1, 4), (3, 10), (8, 3), (2, 64), (100, 12), (500, 2000)]
CONSUMERS = 200


def _metric_call_rows() -> list[dict]:
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        queries = []
        for i in range(CONSUMERS):
            dims = (("FunctionName", f"consumer-{i}"),)
            queries += [
                metrics.MetricQuery(f"age_{i}", "AWS/Lambda", "IteratorAge", dims, "Maximum"),
                metrics.MetricQuery(f"done_{i}", "TelemetryPipeline", "RecordsIn", dims, "Sum"),
            ]
        end = dt.datetime.now(dt.UTC)
        ours = metrics.fetch(cw, queries, end - dt.timedelta(minutes=15), end).calls
        naive = 0
        for q in queries:  # the usual script: one GetMetricStatistics per metric
            cw.get_metric_statistics(
                Namespace=q.namespace,
                MetricName=q.name,
                Dimensions=[{"Name": k, "Value": v} for k, v in q.dimensions],
                StartTime=end - dt.timedelta(minutes=15),
                EndTime=end,
                Period=60,
                Statistics=[q.stat],
            )
            naive += 1
    return [
        {
            "metric": f"CloudWatch calls for {CONSUMERS} consumers' lag and throughput (goal 1)",
            "unit": "calls",
            "ours": ours,
            "naive": naive,
            "ratio": naive / ours,
        }
    ]


def _quarter_steps(current: int, target: int) -> int:
    """Calls when stepping by 25 % of the open count each time (at least 1 shard)."""
    n, calls = current, 0
    while n != target:
        step = max(1, math.floor(n * 0.25))
        n = min(n + step, target) if target > n else max(n - step, target)
        calls += 1
    return calls


def _reshard_rows() -> list[dict]:
    rows = []
    for a, b in PAIRS:
        ours, naive = len(reshard.reshard_steps(a, b)), _quarter_steps(a, b)
        rows.append(
            {
                "metric": f"UpdateShardCount calls {a}→{b} (minimum possible {reshard.minimum_steps(a, b)})",
                "unit": "calls",
                "ours": ours,
                "naive": naive,
                "ratio": naive / ours if ours else None,
            }
        )
    return rows


def run_opsctl_bench() -> list[dict]:
    return _metric_call_rows() + _reshard_rows()
