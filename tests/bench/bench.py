"""`make bench`: our code side by side with a naive seed-style baseline, measured in the same run.

Absolute times on shared machines are noise; read the ratio column. Rows:
- handler rows (tests/bench/handler_bench.py): CPU µs per record with DynamoDB stubbed, DynamoDB
  requests per 100 records, handler import time over `import boto3`;
- cost row (tests/bench/cost_bench.py): the AWS bill of 1,000,000 readings at 1,000/s, ours vs one put per
  record, from the handler rows' measurements and prices.json (the same arithmetic as `opsctl capacity
  --prepare-event`);
- DLQ replay rows (tests/bench/replay_bench.py): the SQS mover against a fake SQS at 20 ms per call,
  messages/s serial and concurrent and API calls per message, against one-message-at-a-time replay;
- rollup rows (tests/bench/rollup_bench.py): read capacity units the rollup worker spends on one device-hour at
  60, 600 and 3,600 readings an hour (a batch a second), the real worker behind the queue's delay vs a worker
  that re-reads the hour for every job, on a DynamoDB fake that charges RCU as DynamoDB does;
- moto rows (tests/bench/moto_bench.py): SQS and DynamoDB calls on deep queues and big tables, moto as
  released vs moto as the sandbox runs it (opsctl.sandbox.moto_speed);
- end to end through a sandbox of the bench's own: readings/s from Kinesis to DynamoDB and on to their rollups
  (the runtime runs until every queue is idle), the local runtime driving the deployed ingest function vs the
  same runtime driving the naive handler, which enqueues a rollup job per reading (so both do the rollup path);
  and the same deployed pipeline with the sandbox's CloudWatch metrics (opsctl.sandbox.cw_metrics) on vs off;
- read API rows (tests/bench/api_bench.py) on that same sandbox: handler latency p50/p99 per page of
  100 and 1000 readings, DynamoDB and KMS requests per page, vs tests/bench/naive_api.py."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "tests" / "bench"), str(ROOT)]

E2E_RECORDS = int(os.environ.get("BENCH_E2E_RECORDS", "3000"))
E2E_DEVICES = 20


def _table(rows: list[dict]) -> str:
    head = ("metric", "unit", "ours", "naive", "naive/ours")
    body = [(r["metric"], r["unit"], _fmt(r["ours"]), _fmt(r["naive"]), _fmt(r.get("ratio"))) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]

    def line(cells) -> str:
        return "  ".join(
            str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])


def _fmt(x):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.2f}" if abs(x) < 100 else f"{x:,.0f}"
    return str(x)


def e2e_rows() -> list[dict]:
    """Records/s through a fresh sandbox: PutRecords, then the local runtime until idle."""
    state_dir = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    os.environ["OPSCTL_SANDBOX_DIR"] = str(state_dir)
    from naive_ingest import handler as naive_handler

    from opsctl.core import stack as stack_mod
    from opsctl.sandbox import deploy, traffic
    from opsctl.sandbox.runtime import runner as runtime

    print(f"bench: bringing up a sandbox in {state_dir} (one terraform apply, about a minute)", file=sys.stderr)
    try:
        deploy.up(state_dir=state_dir, progress=lambda m: print(f"  {m}", file=sys.stderr))
        stack = stack_mod.load("local", sandbox_source=deploy.stack_source(state_dir))
        kinesis = stack.target.client("kinesis")
        rates = _metrics_on_off(stack, state_dir, kinesis)  # first: it needs no naive handler
        for label, override in (("ours", None), ("naive", naive_handler)):
            items = traffic.mix(traffic.readings(E2E_DEVICES, E2E_RECORDS, seed=len(label)), [])
            traffic.send(kinesis, stack.get("stream_name"), items)
            t0 = time.perf_counter()
            overrides = {stack.get("ingest_function_name"): override} if override else None
            summary = runtime.run(stack.target, state_dir=state_dir, until_idle=True, handler_overrides=overrides)
            elapsed = time.perf_counter() - t0
            delivered = sum(m["records_delivered"] for m in summary.to_dict()["mappings"])
            rates[label] = delivered / elapsed
        rows = [
            {
                "metric": "end-to-end Kinesis → DynamoDB → rollup jobs → rollups via the sandbox "
                "(both with rollups; naive: PutItem + SendMessage per record)",
                "unit": "readings/s",
                "ours": rates["ours"],
                "naive": rates["naive"],
                "ratio": rates["ours"] / rates["naive"],
            }
        ]
        rows.append(
            {
                "metric": "end-to-end readings/s with the sandbox's AWS/DynamoDB + AWS/SQS metrics on, vs off "
                "(same run, same readings; 'naive' = metrics off; ratio near 1 = no slowdown)",
                "unit": "readings/s",
                "ours": rates["metrics_on"],
                "naive": rates["metrics_off"],
                "ratio": rates["metrics_on"] / rates["metrics_off"],
            }
        )
        from api_bench import run_api_bench

        print("bench: read API pages, ours vs naive, in-process on the same sandbox", file=sys.stderr)
        return rows + run_api_bench(stack, state_dir)
    finally:
        deploy.down(state_dir=state_dir)


def _metrics_switch(endpoint: str, on: bool) -> None:
    """The sandbox server's metrics switch (opsctl.sandbox.cw_metrics SWITCH_PATH)."""
    import urllib.request

    from opsctl.sandbox.cw_metrics import SWITCH_PATH

    request = urllib.request.Request(endpoint + SWITCH_PATH, method="POST", data=b"on" if on else b"off")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def _metrics_on_off(stack, state_dir, kinesis) -> dict:
    """Readings/s of the deployed pipeline with the sandbox's metrics off, then on (off first: a warm sandbox
    favours the second run, so the order is against the metrics)."""
    from opsctl.sandbox import traffic
    from opsctl.sandbox.runtime import runner as runtime

    endpoint = stack.target.endpoint_url
    rates = {}
    try:
        for label, on in (("metrics_off", False), ("metrics_on", True)):
            _metrics_switch(endpoint, on)
            items = traffic.mix(traffic.readings(E2E_DEVICES, E2E_RECORDS, seed=100 + on), [])
            traffic.send(kinesis, stack.get("stream_name"), items)
            t0 = time.perf_counter()
            summary = runtime.run(stack.target, state_dir=state_dir, until_idle=True)
            elapsed = time.perf_counter() - t0
            rates[label] = sum(m["records_delivered"] for m in summary.to_dict()["mappings"]) / elapsed
    finally:
        _metrics_switch(endpoint, True)
    return rates


def main() -> int:
    from cost_bench import run_cost_bench
    from handler_bench import run_handler_bench
    from moto_bench import run_moto_bench
    from opsctl_bench import run_opsctl_bench
    from replay_bench import run_replay_bench
    from rollup_bench import run_rollup_bench

    rows = (
        run_handler_bench()
        + run_cost_bench()
        + run_opsctl_bench()
        + run_replay_bench()
        + run_rollup_bench()
        + run_moto_bench()
    )
    if os.environ.get("BENCH_SKIP_E2E") != "1":
        rows += e2e_rows()
    print(_table(rows))
    out = ROOT / "build" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\n(ratio column: how many times better ours is; written to {out.relative_to(ROOT)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
