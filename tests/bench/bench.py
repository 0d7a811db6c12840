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
  and the same deployed pipeline with the sandbox's CloudWatch metrics (opsctl.sandbox.cw_metrics) on vs off
  (BENCH_METRICS_PAIRS interleaved short runs of BENCH_METRICS_RECORDS readings, each run its own devices, median
  ratio);
- sustained-rate rows (tests/bench/rate_bench.py) on that sandbox: `opsctl sandbox traffic --rate BENCH_RATE
  --duration BENCH_RATE_DURATION` to BENCH_RATE_DEVICES devices while the runtime follows, ours vs naive, every
  reading counted in the table and in its rollups, each side on an idle pipeline; and the backlog case
  (BENCH_BACKLOG_HOURS hourly readings of one device at once, then the runtime until idle, cut at BENCH_BACKLOG_MAX s);
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
METRICS_PAIRS = int(os.environ.get("BENCH_METRICS_PAIRS", "6"))  # short off/on runs, interleaved
METRICS_RECORDS = int(os.environ.get("BENCH_METRICS_RECORDS", "1500"))  # readings per metrics off/on run
RATE = float(os.environ.get("BENCH_RATE", "1000"))  # readings/s the sustained-rate row holds
RATE_DURATION_S = float(os.environ.get("BENCH_RATE_DURATION", "60"))
RATE_DEVICES = int(os.environ.get("BENCH_RATE_DEVICES", "100"))
RATE_DRAIN_S = float(os.environ.get("BENCH_RATE_DRAIN", "240"))  # at most this long to catch up after sending
BACKLOG_HOURS = int(os.environ.get("BENCH_BACKLOG_HOURS", "8640"))  # 0: no backlog row
BACKLOG_MAX_S = float(os.environ.get("BENCH_BACKLOG_MAX", "900"))  # the backlog's run --until-idle is cut here


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


def _let_the_naive_handler_put(stack) -> None:
    """The naive handler writes with PutItem, which the ingest role is not granted (least privilege: our code calls
    BatchWriteItem only) and the sandbox enforces: without this grant, on the bench's own sandbox only, every naive
    batch would be AccessDenied and retried for ever."""
    fn = stack.target.client("lambda").get_function(FunctionName=stack.get("ingest_function_name"))
    role = fn["Configuration"]["Role"].rsplit("/", 1)[-1]
    table_arn = stack.target.client("dynamodb").describe_table(TableName=stack.get("table_name"))["Table"]["TableArn"]
    stack.target.client("iam").put_role_policy(
        RoleName=role,
        PolicyName="bench-naive-putitem",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": table_arn}],
            }
        ),
    )


def _show(row: dict) -> None:
    """A row on stderr as soon as it is measured: a run cut short still leaves its figures."""
    figures = f"ours {_fmt(row['ours'])}, naive {_fmt(row['naive'])}, ratio {_fmt(row.get('ratio'))}"
    print(f"  row: {row['metric']}: {figures}", file=sys.stderr)


def _prefixed(readings: list[dict], prefix: str) -> list[dict]:
    """traffic.readings' devices (dev-0001, ...) renamed <prefix>0001, ..., as `sandbox traffic --device-prefix`
    does: each run counts only its own devices."""
    for r in readings:
        r["device_id"] = prefix + r["device_id"].removeprefix("dev-")
    return readings


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
        _let_the_naive_handler_put(stack)
        from rate_bench import check_stored

        complete = {}
        for label, override in (("ours", None), ("naive", naive_handler)):
            readings = _prefixed(traffic.readings(E2E_DEVICES, E2E_RECORDS, seed=len(label)), f"e2e-{label}-")
            traffic.send(kinesis, stack.get("stream_name"), traffic.mix(readings, []))
            t0 = time.perf_counter()
            overrides = {stack.get("ingest_function_name"): override} if override else None
            summary = runtime.run(stack.target, state_dir=state_dir, until_idle=True, handler_overrides=overrides)
            elapsed = time.perf_counter() - t0
            delivered = sum(m["records_delivered"] for m in summary.to_dict()["mappings"])
            rates[label] = delivered / elapsed
            by_device: dict[str, list[int]] = {}
            for r in readings:
                by_device.setdefault(r["device_id"], []).append(r["ts"])
            stored, rolled = check_stored(stack, by_device)
            complete[label] = f"{stored}/{len(readings)} stored, {rolled} rolled up"
        rows = [
            {
                "metric": "end-to-end Kinesis → DynamoDB → rollup jobs → rollups via the sandbox "
                f"(both with rollups; naive: PutItem + SendMessage per record; ours {complete['ours']}, "
                f"naive {complete['naive']})",
                "unit": "readings/s",
                "ours": rates["ours"],
                "naive": rates["naive"],
                "ratio": rates["ours"] / rates["naive"],
            }
        ]
        rows.append(
            {
                "metric": "end-to-end readings/s with the sandbox's AWS/DynamoDB + AWS/SQS metrics on, vs off "
                f"('naive' = off; medians of {METRICS_PAIRS} interleaved off/on pairs of {METRICS_RECORDS} readings; "
                f"ratio = median of the pairs' on/off ratios, in run order "
                f"{', '.join(f'{r:.2f}' for r in rates['metrics_ratios'])}; near 1 = no slowdown)",
                "unit": "readings/s",
                "ours": rates["metrics_on"],
                "naive": rates["metrics_off"],
                "ratio": rates["metrics_ratio"],
            }
        )
        for row in rows:
            _show(row)
        rows += _rate_rows(stack, state_dir, naive_handler)
        from api_bench import run_api_bench

        print("bench: read API pages, ours vs naive, in-process on the same sandbox", file=sys.stderr)
        api_rows = run_api_bench(stack, state_dir)
        for row in api_rows:
            _show(row)
        return rows + api_rows
    finally:
        deploy.down(state_dir=state_dir)


def _rate_rows(stack, state_dir, naive_handler) -> list[dict]:
    """Sustained readings/s at RATE for RATE_DURATION_S (tests/bench/rate_bench.py), ours vs naive in the same run,
    and the backlog case: a year of one device's hourly readings sent at once, then the runtime until idle."""
    from rate_bench import backlog, sustained, sustained_row

    figures = {}
    for label, override in (("ours", None), ("naive", naive_handler)):
        print(f"bench: {RATE:.0f} readings/s for {RATE_DURATION_S:.0f} s ({label})", file=sys.stderr)
        figures[label] = sustained(
            stack,
            state_dir,
            rate=RATE,
            duration=RATE_DURATION_S,
            devices=RATE_DEVICES,
            prefix=f"rate-{label}-",
            override=override,
            drain_s=RATE_DRAIN_S,
        )
        print(f"  {figures[label]}", file=sys.stderr)
    rows = [sustained_row(figures, rate=RATE, duration=RATE_DURATION_S, devices=RATE_DEVICES, drain_s=RATE_DRAIN_S)]
    _show(rows[0])
    if BACKLOG_HOURS:
        print(f"bench: backlog of {BACKLOG_HOURS} hourly readings of one device", file=sys.stderr)
        b = backlog(stack, state_dir, hours=BACKLOG_HOURS, max_s=BACKLOG_MAX_S)
        print(f"  {b}", file=sys.stderr)
        rows.append(
            {
                "metric": f"backlog: {BACKLOG_HOURS} hourly readings of one device sent at once, then run --until-idle "
                f"(goal: minutes; {b['stored']} stored, {b['rolled_up']} rolled up in {b['rollup_invocations']} "
                f"rollup invocations{f'; CUT at {BACKLOG_MAX_S:.0f} s, not idle' if b['cut'] else ''}"
                f"{'' if b['started_idle'] else '; NOT started on an idle pipeline'})",
                "unit": "s",
                "ours": b["seconds"],
                "naive": None,
                "ratio": None,
            }
        )
        _show(rows[-1])
    return rows


def _metrics_switch(endpoint: str, on: bool) -> None:
    """The sandbox server's metrics switch (opsctl.sandbox.cw_metrics SWITCH_PATH)."""
    import urllib.request

    from opsctl.sandbox.cw_metrics import SWITCH_PATH

    request = urllib.request.Request(endpoint + SWITCH_PATH, method="POST", data=b"on" if on else b"off")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def _metrics_on_off(stack, state_dir, kinesis) -> dict:
    """Readings/s of the deployed pipeline with the sandbox's metrics off and on: METRICS_PAIRS pairs of short runs,
    each pair in the other order from the last (off-on, on-off, ...), so moto slowing down as the sandbox fills up
    and the machine's load drifting touch both sides alike. The ratio is the median of the pairs' on/off ratios
    (one noisy run moves a median of four little); the rates shown are the medians of each side."""
    import statistics

    from opsctl.sandbox import traffic
    from opsctl.sandbox.runtime import runner as runtime

    endpoint = stack.target.endpoint_url
    rates: dict[str, list[float]] = {"metrics_off": [], "metrics_on": []}
    ratios = []
    try:
        for pair in range(METRICS_PAIRS):
            order = (False, True) if pair % 2 == 0 else (True, False)
            got = {}
            for j, on in enumerate(order):
                label = "metrics_on" if on else "metrics_off"
                _metrics_switch(endpoint, on)
                # devices of its own: a rollup job reads its device-hour, so runs sharing devices would each read
                # every earlier run's readings too, and get slower run by run (they did: 69 -> 30 readings/s)
                readings = _prefixed(
                    traffic.readings(E2E_DEVICES, METRICS_RECORDS, seed=100 + 2 * pair + j), f"metrics-{pair}{j}-"
                )
                items = traffic.mix(readings, [])
                traffic.send(kinesis, stack.get("stream_name"), items)
                t0 = time.perf_counter()
                summary = runtime.run(stack.target, state_dir=state_dir, until_idle=True)
                seconds = time.perf_counter() - t0
                got[label] = sum(m["records_delivered"] for m in summary.to_dict()["mappings"]) / seconds
                rates[label].append(got[label])
                print(f"  metrics {'on' if on else 'off'}: {got[label]:.1f} readings/s", file=sys.stderr)
            ratios.append(got["metrics_on"] / got["metrics_off"])
    finally:
        _metrics_switch(endpoint, True)
    return {
        "metrics_on": statistics.median(rates["metrics_on"]),
        "metrics_off": statistics.median(rates["metrics_off"]),
        "metrics_ratio": statistics.median(ratios),
        "metrics_ratios": ratios,
    }


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
    for row in rows:
        _show(row)
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
