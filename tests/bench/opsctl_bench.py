"""Bench rows for the on-call commands: how many API calls they need against what a naive tool spends.

- GetMetricData calls to read iterator age and throughput of 200 consumers (ours batches ≤500 queries
  per call) against one GetMetricStatistics call per metric per consumer (what scripts usually do);
- UpdateShardCount calls planned for (from, to) pairs against stepping by 25 % of the open count (the
  step AWS's documentation suggests), with the minimum any tool can reach shown in the metric name;
- `opsctl status` wall time, its Terraform outputs served from the cache, against `terraform output -json`
  alone (what every command paid before the cache, on top of its own work)."""

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


def _wall(cmd: list[str], env: dict, cwd, runs: int = 3) -> float:
    """Median wall time of `cmd`, seconds (each run must succeed)."""
    import statistics
    import subprocess
    import time

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True, timeout=120)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _status_rows() -> list[dict]:
    """`opsctl status` against a moto server, its stack's outputs in a local Terraform state, against
    `terraform output -json` of that state alone: what every command paid before the outputs cache."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from moto.server import ThreadedMotoServer

    from opsctl.core import tf
    from opsctl.sandbox.server import free_port

    project = Path(tempfile.mkdtemp(prefix="bench-status-"))
    root = project / "terraform" / "envs" / "bench"
    root.mkdir(parents=True)
    (root / "main.tf").write_text(
        'output "region" {\n  value = "us-east-1"\n}\n'
        'output "stream_name" {\n  value = "readings"\n}\n'
        'output "table_name" {\n  value = "readings"\n}\n'
    )
    tf.run(root, ["apply", "-auto-approve", "-input=false", "-no-color"], timeout=120)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        creds = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench", "region_name": "us-east-1"}
        boto3.client("kinesis", endpoint_url=endpoint, **creds).create_stream(StreamName="readings", ShardCount=1)
        boto3.client("dynamodb", endpoint_url=endpoint, **creds).create_table(
            TableName="readings",
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "device_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        env = {
            **os.environ,
            "OPSCTL_PROJECT_DIR": str(project),
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        env.pop("OPSCTL_ENV", None)
        status = [sys.executable, "-m", "opsctl.cli.app", "--env", "bench", "--endpoint-url", endpoint, "status"]
        terraform_output = _wall([tf.terraform_binary(), "output", "-json"], tf.cli_environment(), root)
        subprocess.run(status, env=env, check=True, capture_output=True, timeout=120)  # fills the outputs cache
        warm = _wall(status, env, project)
    finally:
        server.stop()
    return [
        {
            "metric": "opsctl status wall time (outputs cached) vs `terraform output -json` alone (goal < 1 s)",
            "unit": "s",
            "ours": warm,
            "naive": terraform_output,
            "ratio": terraform_output / warm,
        }
    ]


def run_opsctl_bench() -> list[dict]:
    return _metric_call_rows() + _reshard_rows() + _status_rows()
